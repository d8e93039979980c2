"""The canary's analysis: judge the window this tick observed, count it, act on the count.

Called by the canary's steps (modelpilot.operator.rollout.canary_steps) once per tick; the
window itself was taken outside plan() (modelpilot.operator.live). Too few requests is
*inconclusive*, never a pass; `failureLimit` failed windows roll the canary back, and
`inconclusiveLimit` inconclusive ones abort or pause it as `onInconclusive` says.
"""

from __future__ import annotations

from typing import Any

from modelpilot.api.reasons import ConditionReason, EventReason
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import (
    ANALYSIS_WINDOWS_LIMIT,
    AnalysisStatus,
    AnalysisWindow,
    CandidateStatus,
    FailureReason,
)
from modelpilot.operator.analysis.verdict import (
    AnalysisVerdict,
    Limits,
    Measurements,
    VerdictKind,
    evaluate,
    judge_metrics,
)
from modelpilot.operator.rollout.conditions import ConditionValue
from modelpilot.operator.rollout.draft import Draft
from modelpilot.operator.rollout.world import ObservedAnalysis


def judge_analysis_window(
    draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus
) -> bool:
    """Record this tick's analysis window, if one was taken; True when it aborted the canary."""
    observed, canary = draft.world.analysis, draft.status.canary
    if observed is None or canary is None:
        return False
    before = canary.analysis
    snapshots = _snapshots(observed, before)
    if observed.error is not None:
        verdict = AnalysisVerdict(
            VerdictKind.INCONCLUSIVE, (f"metrics unavailable: {observed.error}",), Measurements()
        )
    elif observed.canary is None or observed.canary.window is None:
        # The first query of a version only sets the baseline: not a window, not counted.
        updated = before.model_copy(update={"last_window_at": draft.now, **snapshots})
        draft.update(
            canary=canary.model_copy(update={"analysis": updated, "window_elapsed_seconds": 0.0})
        )
        return False
    else:
        stable_window = None if observed.stable is None else observed.stable.window
        limits = Limits.from_spec(spec.rollout.analysis)
        verdict = evaluate(observed.canary.window, stable_window, limits)
        verdict = judge_metrics(verdict, spec.rollout.analysis.metrics, observed.metrics)
    _record_window(draft, verdict, snapshots)
    return _act_on_counts(draft, spec, candidate, verdict)


def _snapshots(observed: ObservedAnalysis, before: AnalysisStatus) -> dict[str, Any]:
    """The newest snapshot of each version's counters, kept from before when none came."""
    snapshots = {
        "canary_snapshot": before.canary_snapshot,
        "stable_snapshot": before.stable_snapshot,
    }
    if observed.canary is not None and observed.canary.snapshot is not None:
        snapshots["canary_snapshot"] = observed.canary.snapshot.to_status()
    if observed.stable is not None and observed.stable.snapshot is not None:
        snapshots["stable_snapshot"] = observed.stable.snapshot.to_status()
    return snapshots


def _record_window(draft: Draft, verdict: AnalysisVerdict, snapshots: dict[str, Any]) -> None:
    """The window goes first into status.canary.analysis, and counts its verdict."""
    canary = draft.status.canary
    assert canary is not None
    before = canary.analysis
    window = AnalysisWindow(
        started_at=before.last_window_at or canary.step_started_at or draft.now,
        ended_at=draft.now,
        verdict=verdict.kind.value,
        message=verdict.message,
        metrics=dict(verdict.metrics) or None,
        **{k: getattr(verdict.measurements, k) for k in _MEASUREMENTS},
    )
    updated = before.model_copy(
        update={
            "failures": before.failures + (verdict.kind is VerdictKind.FAIL),
            "inconclusive": before.inconclusive + (verdict.kind is VerdictKind.INCONCLUSIVE),
            "last_window_at": draft.now,
            "windows": [window, *before.windows][:ANALYSIS_WINDOWS_LIMIT],
            **snapshots,
        }
    )
    draft.update(
        canary=canary.model_copy(update={"analysis": updated, "window_elapsed_seconds": 0.0})
    )


def _act_on_counts(
    draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus, verdict: AnalysisVerdict
) -> bool:
    """The condition, and the rollback or pause the counts call for; True when rolled back."""
    canary = draft.status.canary
    assert canary is not None
    analysis, counts, rev = spec.rollout.analysis, canary.analysis, candidate.revision
    if verdict.kind is VerdictKind.PASS:
        draft.canary_health = ConditionValue(
            "True", ConditionReason.ANALYSIS_PASSED, f"{rev}: {verdict.message}"
        )
        return False
    if verdict.kind is VerdictKind.FAIL:
        counted = f"analysis failed {counts.failures}/{analysis.failure_limit}: {verdict.message}"
        if counts.failures >= analysis.failure_limit:
            draft.roll_back(candidate, FailureReason.ANALYSIS_FAILED, counted)
            return True
        draft.canary_health = ConditionValue(
            "False", FailureReason.ANALYSIS_FAILED, f"{rev}: {counted}"
        )
        draft.event("Warning", FailureReason.ANALYSIS_FAILED, f"{rev}: {counted}")
        return False
    counted = (
        f"analysis inconclusive {counts.inconclusive}/{analysis.inconclusive_limit}: "
        f"{verdict.message}"
    )
    if counts.inconclusive < analysis.inconclusive_limit:
        draft.canary_health = ConditionValue(
            "Unknown", FailureReason.ANALYSIS_INCONCLUSIVE, f"{rev}: {counted}"
        )
        return False
    if analysis.on_inconclusive == "Abort":
        draft.roll_back(candidate, FailureReason.ANALYSIS_INCONCLUSIVE, counted)
        return True
    message = f"{counted}; paused until `modelpilot promote` or `modelpilot abort`"
    draft.canary_health = ConditionValue(
        "Unknown", FailureReason.ANALYSIS_INCONCLUSIVE, f"{rev}: {message}"
    )
    if not canary.paused:
        draft.event("Warning", EventReason.CANARY_PAUSED, f"{rev}: {message}")
    draft.update(canary=canary.model_copy(update={"paused": True, "message": message}))
    return False


_MEASUREMENTS = (
    "canary_requests",
    "stable_requests",
    "canary_error_rate",
    "stable_error_rate",
    "canary_client_error_rate",
    "stable_client_error_rate",
    "canary_latency_p99_ms",
    "stable_latency_p99_ms",
    "prediction_psi",
)
