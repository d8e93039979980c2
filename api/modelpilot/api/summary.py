"""The training summary: what the trainer tells the operator through the termination message.

Kubernetes keeps at most 4096 bytes of a termination message, so `encode` guarantees that
(dropping the optional parts first) and the operator never needs to mount the model store.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_BYTES = 4096
# The trainer's exit code (TrainingSummary.exit_code) when it refuses a model trained
# elsewhere (spec.training.pretrained: digest, versions, not an estimator, missing): the
# operator gives such a failure its own reason.
EXIT_PRETRAINED_REFUSED = 5


class TrainingSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool  # False: training failed; `error` says why
    revision: str
    exit_code: int = 0
    error: str | None = None
    model_sha256: str | None = None
    task: str | None = None
    metric: str | None = None  # the gate metric
    candidate_score: float | None = None
    stable_score: float | None = None  # on the same holdout; None when no stable was given
    verdict: str | None = None  # modelpilot.api.gate.GateVerdict
    message: str | None = None  # the gate's human-readable reason
    holdout_sha256: str | None = None
    training_data_sha256: str | None = None  # the dataset's fingerprint (data watch compares)
    holdout_rows: int | None = None
    metrics: dict[str, float] | None = None  # all metrics of the candidate
    versions: dict[str, str] | None = None
    fit_seconds: float | None = None


def encode(summary: TrainingSummary) -> str:
    """Compact JSON, always under MAX_BYTES: drops optional detail, then truncates text."""
    data: dict[str, Any] = summary.model_dump(exclude_none=True)
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    for optional in ("metrics", "versions", "fit_seconds"):
        if len(text.encode()) < MAX_BYTES:
            break
        data.pop(optional, None)
        text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    for long_field in ("error", "message"):
        while len(text.encode()) >= MAX_BYTES and data.get(long_field):
            data[long_field] = data[long_field][: max(0, len(data[long_field]) // 2 - 3)] + "..."
            text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return text


def decode(text: str) -> TrainingSummary:
    """Parse a termination message; raises ValueError when it is not a summary."""
    return TrainingSummary.model_validate_json(text)
