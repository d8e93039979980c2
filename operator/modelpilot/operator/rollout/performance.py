"""Judging the stable model by ground truth: the live gate metric and the Degraded condition.

Labels fed back by request id are joined with their predictions in the serving pod that
made them (modelpilot.serving.feedback): the join needs the prediction, and only that pod
has it without a store round trip. The pods export sufficient statistics (a confusion
matrix, or sums of errors: modelpilot.api.feedback) on the same /metrics page the drift
window reads, so the operator reads them in the same scrape (modelpilot.operator.monitoring).

Each monitoring window's labelled rows are the difference from the previous scrape, pod by
pod (a pod absent from the snapshot — new, or of a revision just promoted — or whose
counters went back — restarted — counts in full). The windows that ended within
spec.monitoring.performance.window are kept in status and added up: that is the sliding
window the gate's metric is computed over. Below minCount labelled rows Degraded is Unknown;
otherwise True when the metric is past the threshold (below it, or above it for error
metrics). Like drift, Degraded never touches Ready; with `retrainOn: [Degraded]` it starts a
revision (trigger Degraded) at most once per cooldown, which meets the same gate and canary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from modelpilot.api.feedback import FeedbackStats, is_degraded, live_metric, total
from modelpilot.api.metrics import metric_info
from modelpilot.api.reasons import ConditionReason, ConditionType, EventReason
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import MonitoringStatus, PerformanceStatus, PerformanceWindow
from modelpilot.operator.rollout import conditions as cond
from modelpilot.operator.rollout.draft import Draft

MAX_WINDOWS = 120  # status.monitoring.performance.windows
SNAPSHOT_LIMIT_BYTES = 32 * 1024


def judge_performance(draft: Draft, spec: ModelDeploymentSpec) -> bool:
    """Record this tick's window, if one was read; True when it asks for a Degraded revision."""
    monitoring = spec.monitoring
    wanted = None if monitoring is None else monitoring.performance
    current = draft.status.monitoring
    if wanted is None or monitoring is None:
        if current is not None and current.performance is not None:
            draft.update(monitoring=current.model_copy(update={"performance": None}))
        return False
    observed = draft.world.drift
    if observed is None:
        return False
    metric = spec.evaluation.metric
    before = (current.performance if current is not None else None) or PerformanceStatus()
    common: dict[str, Any] = {
        "revision": observed.revision,
        "metric": metric,
        "threshold": wanted.threshold,
    }
    if observed.error is not None:
        message = f"feedback counters unavailable: {observed.error}"
        _record(draft, before.model_copy(update={**common, "message": message, "degraded": None}))
        draft.degraded_condition = cond.ConditionValue(
            "Unknown", ConditionReason.METRICS_UNAVAILABLE, message
        )
        return False

    previous = before.snapshot if before.revision == observed.revision else None
    added = window_stats(observed.feedback, previous or {})
    horizon = draft.now - timedelta(seconds=wanted.window_seconds)
    earlier = before.windows if before.revision == observed.revision else []
    windows = [_window(draft, added), *(w for w in earlier if w.ended_at > horizon)]
    windows = windows[:MAX_WINDOWS]
    stats = total(_stats(w) for w in windows)
    value = live_metric(metric, stats)
    count = stats.count
    common |= {
        "windows": windows,
        "snapshot": bounded_snapshot(observed.feedback),
        "count": count,
        "value": None if value is None else round(value, 6),
    }
    window_text = f"{wanted.window} window"
    if count < wanted.min_count or value is None:
        why = (
            f"{count} labelled rows in the {window_text} < minCount {wanted.min_count}"
            if count < wanted.min_count
            else f"{metric} is undefined on these {count} labelled rows"
        )
        message = f"{observed.revision}: {why}: too few to judge"
        _record(draft, before.model_copy(update={**common, "message": message, "degraded": None}))
        draft.degraded_condition = cond.ConditionValue(
            "Unknown", ConditionReason.TOO_FEW_LABELS, message
        )
        return False
    degraded = is_degraded(metric, value, wanted.threshold)
    better = "above" if metric_info(metric).greater_is_better else "below"
    worse = "below" if better == "above" else "above"
    side = worse if degraded else f"{better} or at"
    message = (
        f"{observed.revision}: live {metric} {value:.4f} over {count} labelled rows in the "
        f"{window_text} is {side} the threshold {wanted.threshold}"
    )
    _record(draft, before.model_copy(update={**common, "message": message, "degraded": degraded}))
    was_true = _was_true(draft)
    if not degraded:
        if was_true:
            draft.event("Normal", EventReason.DEGRADATION_CLEARED, message)
        draft.degraded_condition = cond.ConditionValue(
            "False", ConditionReason.METRIC_WITHIN_THRESHOLD, message
        )
        return False
    if not was_true:
        draft.event("Warning", EventReason.DEGRADED, message)
    draft.degraded_condition = cond.ConditionValue(
        "True", ConditionReason.METRIC_PAST_THRESHOLD, message
    )
    return ConditionType.DEGRADED in monitoring.retrain_reasons and _cooled_down(draft, spec)


def window_stats(live: Mapping[str, FeedbackStats], previous: Mapping[str, Any]) -> FeedbackStats:
    """Labelled rows since the previous scrape, summed over pods (see the module docstring)."""
    parts = []
    for ip, now in live.items():
        raw = previous.get(ip)
        earlier = None if raw is None else stats_from_json(raw)
        if earlier is None or now.went_back(earlier):
            parts.append(now)
        else:
            parts.append(now.minus(earlier))
    return total(parts)


def stats_to_json(stats: FeedbackStats) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if stats.confusion:
        out["confusion"] = [[y, p, v] for (y, p), v in sorted(stats.confusion.items())]
    if stats.sums:
        out["sums"] = dict(sorted(stats.sums.items()))
    return out


def stats_from_json(raw: Mapping[str, Any]) -> FeedbackStats:
    confusion = {(str(y), str(p)): float(v) for y, p, v in raw.get("confusion") or ()}
    sums = {str(k): float(v) for k, v in (raw.get("sums") or {}).items()}
    return FeedbackStats(confusion=confusion, sums=sums)


def bounded_snapshot(live: Mapping[str, FeedbackStats]) -> dict[str, Any]:
    """The pods' counters for status, pod by pod in IP order within SNAPSHOT_LIMIT_BYTES (a
    pod left out counts in full next time: a longer window, never a wrong one)."""
    kept: dict[str, Any] = {}
    size = 2
    for ip in sorted(live):
        plain = stats_to_json(live[ip])
        cost = len(json.dumps({ip: plain}, separators=(",", ":")).encode())
        if size + cost > SNAPSHOT_LIMIT_BYTES:
            continue
        kept[ip] = plain
        size += cost
    return kept


def _window(draft: Draft, stats: FeedbackStats) -> PerformanceWindow:
    plain = stats_to_json(stats)
    return PerformanceWindow(
        ended_at=draft.now, confusion=plain.get("confusion"), sums=plain.get("sums")
    )


def _stats(window: PerformanceWindow) -> FeedbackStats:
    return stats_from_json({"confusion": window.confusion, "sums": window.sums})


def _record(draft: Draft, performance: PerformanceStatus) -> None:
    monitoring = draft.status.monitoring or MonitoringStatus()
    draft.update(monitoring=monitoring.model_copy(update={"performance": performance}))


def _was_true(draft: Draft) -> bool:
    old = draft.status.condition(ConditionType.DEGRADED)
    return old is not None and old.status == "True"


def _cooled_down(draft: Draft, spec: ModelDeploymentSpec) -> bool:
    assert spec.monitoring is not None
    last = draft.status.monitoring.last_retrain_at if draft.status.monitoring else None
    return last is None or (draft.now - last).total_seconds() >= spec.monitoring.cooldown_seconds
