"""Judging drift of the stable model's live inputs, one monitoring window at a time.

Every spec.monitoring.interval the stable pods' cumulative input counts per reference bin
are read (modelpilot.operator.monitoring); the window is their difference from the snapshot
kept in status.monitoring, summed over pods. Each feature's PSI against the training
reference decides the `Drifted` condition: True when one exceeds maxFeaturePsi, False when
none does, Unknown when the window holds fewer than minRequests rows or could not be read.
Drift never touches Ready: the model still serves. With retrainOnDrift a True verdict asks
for a revision (trigger Drifted) once per cooldown; plan() starts it like any other trigger,
so it meets the same gate and canary, and never while a revision is in flight or a pin is set.

The snapshot lives in status, and grows with pods x features x bins x label length (a
category value is a bin label). Status must stay far below etcd's object limit, or every
status write fails: at most SNAPSHOT_LIMIT_BYTES of it (JSON) is kept, pod by pod in IP
order (monitoring reads at most 10 pods a window). A pod left out counts in full in the next
window, as one that started within it does: a longer window of the same inputs, never a
wrong one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from modelpilot.api.reasons import ConditionReason, ConditionType, EventReason
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import (
    WORST_FEATURES_LIMIT,
    FeatureDrift,
    ModelDeploymentStatus,
    MonitoringStatus,
)
from modelpilot.operator.analysis.measures import psi
from modelpilot.operator.rollout import conditions as cond
from modelpilot.operator.rollout.draft import Draft

Counts = Mapping[str, Mapping[str, float]]  # feature -> bin -> count
SNAPSHOT_LIMIT_BYTES = 64 * 1024  # status.monitoring.snapshot, as JSON


def drift_window_due(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime
) -> bool:
    """A stable model serves, monitoring is on and its interval has passed since the last read."""
    if spec.monitoring is None or status.stable is None:
        return False
    last = None if status.monitoring is None else status.monitoring.last_window_at
    return last is None or (now - last).total_seconds() >= spec.monitoring.interval_seconds


def seconds_until_drift_window(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime
) -> float | None:
    if spec.monitoring is None or status.stable is None:
        return None
    last = None if status.monitoring is None else status.monitoring.last_window_at
    if last is None:
        return 0.0
    due = last + timedelta(seconds=spec.monitoring.interval_seconds)
    return max(0.0, (due - now).total_seconds())


def judge_drift(draft: Draft, spec: ModelDeploymentSpec) -> bool:
    """Record this tick's window, if one was read; True when it asks for a Drifted revision."""
    observed, monitoring = draft.world.drift, spec.monitoring
    if monitoring is None:
        if draft.status.monitoring is not None:
            draft.update(monitoring=None)
            draft.drift_condition = None
        return False
    if observed is None:
        return False
    before = draft.status.monitoring or MonitoringStatus()
    now = draft.now
    window: dict[str, Any] = {"window_started_at": before.last_window_at, "last_window_at": now}
    if observed.error is not None:
        message = f"drift counters unavailable: {observed.error}"
        _record(draft, before, window, drifted=None, message=message)
        draft.drift_condition = cond.ConditionValue(
            "Unknown", ConditionReason.METRICS_UNAVAILABLE, message
        )
        return False
    if not observed.reference:
        message = (
            f"{observed.revision}'s bundle has no reference statistics (trained before "
            "drift monitoring existed): retrain it to monitor drift"
        )
        _record(draft, before, window, drifted=None, message=message)
        draft.drift_condition = cond.ConditionValue(
            "Unknown", ConditionReason.NO_REFERENCE, message
        )
        return False
    snapshot = bounded_snapshot(observed.live)
    if before.revision != observed.revision or before.snapshot is None:
        message = f"{observed.revision}: first read of the input counts sets the baseline"
        _record(
            draft,
            before,
            window,
            drifted=None,
            message=message,
            revision=observed.revision,
            snapshot=snapshot,
            requests=None,
            worst=[],
        )
        draft.drift_condition = cond.ConditionValue("Unknown", ConditionReason.BASELINE, message)
        return False

    counts = window_counts(observed.live, before.snapshot)
    rows = max((sum(bins.values()) for bins in counts.values()), default=0.0)
    scores = sorted(
        (
            (value, feature)
            for feature, reference in observed.reference.items()
            if (value := psi(counts.get(feature, {}), reference)) is not None
        ),
        reverse=True,
    )
    worst = [FeatureDrift(feature=f, psi=round(v, 4)) for v, f in scores[:WORST_FEATURES_LIMIT]]
    common = {
        "revision": observed.revision,
        "snapshot": snapshot,
        "requests": int(rows),
        "worst": worst,
    }
    if rows < monitoring.min_requests:
        message = (
            f"{observed.revision}: {int(rows)} input rows in the window < minRequests "
            f"{monitoring.min_requests}: too few to judge"
        )
        _record(draft, before, window, drifted=None, message=message, **common)
        draft.drift_condition = cond.ConditionValue(
            "Unknown", ConditionReason.TOO_FEW_REQUESTS, message
        )
        return False
    over = [(v, f) for v, f in scores if v > monitoring.max_feature_psi]
    if not over:
        top = f" (highest: {scores[0][1]} {scores[0][0]:.3f})" if scores else ""
        message = (
            f"{observed.revision}: no feature's PSI exceeds {monitoring.max_feature_psi} "
            f"over {int(rows)} rows{top}"
        )
        _record(draft, before, window, drifted=False, message=message, **common)
        if _was(draft, "True"):
            draft.event("Normal", EventReason.DRIFT_CLEARED, message)
        draft.drift_condition = cond.ConditionValue("False", ConditionReason.NO_DRIFT, message)
        return False
    named = ", ".join(f"{f} PSI {v:.3f}" for v, f in over[:WORST_FEATURES_LIMIT])
    message = (
        f"{observed.revision}: inputs drifted from the training data: {named} > "
        f"{monitoring.max_feature_psi} over {int(rows)} rows"
    )
    _record(draft, before, window, drifted=True, message=message, **common)
    if not _was(draft, "True"):
        draft.event("Warning", EventReason.DRIFTED, message)
    draft.drift_condition = cond.ConditionValue("True", ConditionReason.FEATURE_DRIFT, message)
    return ConditionType.DRIFTED in monitoring.retrain_reasons and _cooled_down(draft, spec)


def took_drift_revision(draft: Draft) -> None:
    """A Drifted or Degraded revision started now: the cooldown counts from here."""
    monitoring = draft.status.monitoring or MonitoringStatus()
    draft.update(monitoring=monitoring.model_copy(update={"last_retrain_at": draft.now}))


def bounded_snapshot(live: Mapping[str, Counts]) -> dict[str, Any]:
    """The pods' counts for status, pod by pod in IP order while the JSON stays within
    SNAPSHOT_LIMIT_BYTES (see the module docstring)."""
    kept: dict[str, Any] = {}
    size = 2  # "{}"
    for ip in sorted(live):
        plain = _plain(live[ip])
        cost = len(json.dumps({ip: plain}, separators=(",", ":")).encode()) - 1  # + a comma
        if size + cost > SNAPSHOT_LIMIT_BYTES:
            continue
        kept[ip] = plain
        size += cost
    return kept


def window_counts(
    live: Mapping[str, Counts], previous: Mapping[str, Any]
) -> dict[str, dict[str, float]]:
    """Counts of this window, summed over pods: current minus the pod's snapshot.

    A pod absent from the snapshot (started within the window) counts in full; a counter
    lower than its snapshot means the pod restarted, and counts in full too.
    """
    out: dict[str, dict[str, float]] = {}
    for ip, features in live.items():
        before = previous.get(ip) or {}
        restarted = any(
            count < (before.get(feature) or {}).get(label, 0.0)
            for feature, bins in features.items()
            for label, count in bins.items()
        )
        for feature, bins in features.items():
            into = out.setdefault(feature, {})
            earlier = {} if restarted else (before.get(feature) or {})
            for label, count in bins.items():
                into[label] = into.get(label, 0.0) + count - earlier.get(label, 0.0)
    return out


def _plain(counts: Counts) -> dict[str, dict[str, float]]:
    return {feature: dict(bins) for feature, bins in counts.items()}


def _record(
    draft: Draft,
    before: MonitoringStatus,
    window: dict[str, Any],
    *,
    drifted: bool | None,
    message: str,
    **changes: Any,
) -> None:
    draft.update(
        monitoring=before.model_copy(
            update={**window, "drifted": drifted, "message": message, **changes}
        )
    )


def _was(draft: Draft, value: Literal["True", "False", "Unknown"]) -> bool:
    old = draft.status.condition(ConditionType.DRIFTED)
    return old is not None and old.status == value


def _cooled_down(draft: Draft, spec: ModelDeploymentSpec) -> bool:
    assert spec.monitoring is not None
    last = draft.status.monitoring.last_retrain_at if draft.status.monitoring else None
    return last is None or (draft.now - last).total_seconds() >= spec.monitoring.cooldown_seconds
