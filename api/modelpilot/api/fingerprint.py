"""The data probe's report: what `modelpilot train --fingerprint-only` tells the operator.

spec.training.dataset.watch makes the operator run a short Job from the trainer image every
interval; the Job reads the dataset where it lives (the operator never mounts or reads tenant
data) and reports through its termination message the dataset's content fingerprint — the
same `training_data_sha256` a training run records — and the cheap signals it looked at first
(size, mtime, ETag). The operator passes the previous report back (ENV_DATA_PREVIOUS): when
the cheap signals are unchanged the probe reports the previous fingerprint without reading
the data at all.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

ENV_DATA_PREVIOUS = "MODELPILOT_DATA_PREVIOUS"  # the previous DataProbeReport, as JSON


class DataProbeReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    error: str | None = None
    fingerprint: str | None = None  # sha256 of the loaded frame, as training records it
    signals: dict[str, str] | None = None  # size, mtime, etag: whatever the store offers
    hashed: bool = False  # False: signals unchanged, the previous fingerprint is reported
