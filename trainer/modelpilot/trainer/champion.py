"""Champion/challenger: the stable model scored on the candidate's holdout, and the verdict.

The stable bundle is checked twice: `check_stable` verifies its digest (and that it belongs
to this ModelDeployment) against the one the operator trusts *before* training starts (fail
in seconds, not after an hour of fitting), and `score_stable` loads it — `load_bundle` reads
model.joblib once, re-verifies those bytes and unpickles the same bytes — and scores it on
exactly the candidate's holdout rows. A stable bundle trained with other library versions
(the trainer image was upgraded) is still scored, since its digest is trusted; the message
says so, because such a model may score worse than it serves today. The verdict comes from
`modelpilot.api.gate.judge`, the function the operator uses too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelpilot.api.bundle import (
    UNBOUND,
    Binding,
    BundleError,
    BundleMetadata,
    BundleVersionSkew,
    load_bundle,
    running_versions,
    verify_bundle,
    version_skew,
)
from modelpilot.api.gate import GateResult, judge
from modelpilot.api.metrics import Task
from modelpilot.api.spec import Evaluation
from modelpilot.trainer.errors import DataError, TrainingError
from modelpilot.trainer.evaluation import Scores, evaluate
from modelpilot.trainer.splitting import Split


@dataclass(frozen=True)
class StableResult:
    metadata: BundleMetadata
    scores: Scores
    note: str | None  # e.g. version skew, shown beside the verdict


def check_stable(stable_dir: Path, sha256: str, binding: Binding = UNBOUND) -> BundleMetadata:
    """Digest, binding and metadata of the stable bundle, without unpickling it."""
    try:
        return verify_bundle(stable_dir, sha256, binding=binding, allow_version_skew=True)
    except BundleError as exc:
        raise DataError(f"stable model: {exc}") from exc


def score_stable(
    stable_dir: Path,
    sha256: str,
    holdout: Split,
    *,
    task: Task,
    binding: Binding = UNBOUND,
    after_verify: Callable[[], None] | None = None,
) -> StableResult:
    """Load (hash-what-you-load, see modelpilot.api.bundle) and score stable on the holdout.

    `after_verify` is load_bundle's test seam: it runs between the check and the unpickling.
    """
    try:
        with warnings.catch_warnings():
            # Expected for a skewed bundle (reported in `note`); the digest is what we trust.
            from sklearn.exceptions import InconsistentVersionWarning

            warnings.simplefilter("ignore", InconsistentVersionWarning)
            loaded = load_bundle(
                stable_dir,
                sha256,
                binding=binding,
                allow_version_skew=True,
                after_verify=after_verify,
            )
    except BundleVersionSkew as exc:  # pragma: no cover - allow_version_skew=True
        raise DataError(f"stable model: {exc}") from exc
    except BundleError as exc:
        raise DataError(f"stable model: {exc}") from exc
    except Exception as exc:
        raise DataError(
            f"stable model {stable_dir} cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    metadata = loaded.metadata
    if metadata.task != task:
        raise DataError(
            f"stable model {metadata.revision} is a {metadata.task} model and the candidate a "
            f"{task} one: they cannot be compared on one metric"
        )
    missing = [c for c in metadata.features.names if c not in holdout.x_holdout.columns]
    if missing:
        raise DataError(
            f"stable model {metadata.revision} needs feature column(s) "
            f"{', '.join(map(repr, missing))}, which the candidate's data does not have"
        )
    try:
        scores = evaluate(
            loaded.model,
            holdout.x_holdout[metadata.features.names],
            holdout.y_holdout,
            task=task,
            sample_weight=holdout.w_holdout,
        )
    except TrainingError as exc:
        raise DataError(
            f"stable model {metadata.revision} cannot be scored on this holdout: {exc}"
        ) from exc
    skew = version_skew(metadata.versions, running_versions())
    note = f"stable was trained with other versions ({'; '.join(skew)})" if skew else None
    return StableResult(metadata=metadata, scores=scores, note=note)


def stable_if_scored(
    evaluation: Evaluation, score: Callable[[], StableResult]
) -> tuple[StableResult | None, str | None]:
    """(stable's result, None), or with `mustBeatStable: false` (None, why) when stable
    cannot be scored on this holdout: dropping a feature or changing the task must not fail
    a run that does not compare with stable. With `mustBeatStable: true` the error stands."""
    try:
        stable = score()
    except DataError as exc:
        if evaluation.must_beat_stable:
            raise
        return None, f"stable not compared: {exc}"
    if evaluation.metric not in stable.scores.metrics and not evaluation.must_beat_stable:
        return None, (
            f"stable not compared: stable model {stable.metadata.revision} has no "
            f"{evaluation.metric} on this holdout"
        )
    return stable, None


def verdict(evaluation: Evaluation, candidate: Scores, stable: StableResult | None) -> GateResult:
    metric = evaluation.metric
    stable_score = None
    if stable is not None:
        stable_score = stable.scores.metrics.get(metric)
        if stable_score is None:
            raise DataError(
                f"stable model {stable.metadata.revision} has no {metric} on this holdout; "
                "the candidate cannot be compared with it"
            )
    return judge(
        metric=metric,
        candidate_score=candidate.metrics[metric],
        stable_score=stable_score,
        threshold=evaluation.threshold,
        must_beat_stable=evaluation.must_beat_stable,
        tolerance=evaluation.tolerance,
    )
