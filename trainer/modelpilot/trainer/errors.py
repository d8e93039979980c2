"""The trainer's exceptions; each class carries the exit code the training Job ends with.

    TrainerError                  (never raised itself)
    ├── SpecError          exit 2  the spec or the command line is wrong: unknown field,
    │                              estimator outside the allowlist, unknown param, a gate
    │                              metric the task does not have. Retrying cannot help.
    ├── DataError          exit 3  the inputs the trainer reads are wrong or unreachable:
    │                              dataset missing/unreadable/empty, missing or NaN target,
    │                              non-numeric feature without an encoder, an untrusted or
    │                              unusable stable bundle, an output directory that holds
    │                              another revision.
    ├── TrainingError      exit 4  fitting, scoring or writing the bundle failed (also any
    │                              unexpected exception, reported as such).
    └── PretrainedError    exit 5  spec.training.pretrained is refused: missing, another
                                   sha256 than the spec's (never unpickled then), other
                                   library versions, not a fitted scikit-learn model, not
                                   allowed, or not fitted on the dataset's columns.

Exit 0 means "trained and reported", whatever the gate's verdict: the operator decides.
Raise these with `from exc` so the cause stays in the chain; the message alone must be
enough for a person reading `kubectl describe`.
"""

from __future__ import annotations

from modelpilot.api.summary import EXIT_PRETRAINED_REFUSED

EXIT_OK = 0
EXIT_SPEC = 2
EXIT_DATA = 3
EXIT_TRAINING = 4
EXIT_PRETRAINED = EXIT_PRETRAINED_REFUSED


class TrainerError(Exception):
    exit_code = EXIT_TRAINING
    kind = "error"


class SpecError(TrainerError):
    exit_code = EXIT_SPEC
    kind = "invalid spec"


class DataError(TrainerError):
    exit_code = EXIT_DATA
    kind = "data error"


class TrainingError(TrainerError):
    exit_code = EXIT_TRAINING
    kind = "training error"


class PretrainedError(TrainerError):
    exit_code = EXIT_PRETRAINED
    kind = "pretrained model refused"
