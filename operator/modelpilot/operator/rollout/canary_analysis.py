"""The canary's analysis: judge the window this tick observed, count it, act on the count.

Called by the canary's steps (modelpilot.operator.rollout.canary_steps) once per tick; the
window itself was taken outside plan() (modelpilot.operator.live). Too few requests is
*inconclusive*, never a pass; `failureLimit` failed windows roll the canary back, and
`inconclusiveLimit` inconclusive ones abort or pause it as `onInconclusive` says.
"""

from __future__ import annotations

from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import (
    ANALYSIS_WINDOWS_LIMIT,
    AnalysisWindow,
    CandidateStatus,
    FailureReason,
)
from modelpilot.operator.analysis.verdict import (
    Limits,
    Measurements,
    Verdict,
    VerdictKind,
    evaluate,
)
from modelpilot.operator.rollout.conditions import ConditionValue
from modelpilot.operator.rollout.draft import Draft


def judge_analysis_window(
    draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus
) -> bool:
    """Record this tick's analysis window, if one was taken; True when it aborted the canary."""
    observed, canary = draft.world.analysis, draft.status.canary
    if observed is None or canary is None:
        return False
    analysis = spec.rollout.analysis
    before = canary.analysis
    started = before.last_window_at or canary.step_started_at or draft.now
    snapshots = {
        "canary_snapshot": before.canary_snapshot,
        "stable_snapshot": before.stable_snapshot,
    }
    if observed.canary is not None and observed.canary.snapshot is not None:
        snapshots["canary_snapshot"] = observed.canary.snapshot.to_status()
    if observed.stable is not None and observed.stable.snapshot is not None:
        snapshots["stable_snapshot"] = observed.stable.snapshot.to_status()

    if observed.error is not None:
        verdict = Verdict(
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
        verdict = evaluate(observed.canary.window, stable_window, Limits.from_spec(analysis))

    window = AnalysisWindow(
        started_at=started,
        ended_at=draft.now,
        verdict=verdict.kind.value,
        message=verdict.message,
        **{k: getattr(verdict.measurements, k) for k in _MEASUREMENTS},
    )
    failures = before.failures + (verdict.kind is VerdictKind.FAIL)
    inconclusive = before.inconclusive + (verdict.kind is VerdictKind.INCONCLUSIVE)
    updated = before.model_copy(
        update={
            "failures": failures,
            "inconclusive": inconclusive,
            "last_window_at": draft.now,
            "windows": [window, *before.windows][:ANALYSIS_WINDOWS_LIMIT],
            **snapshots,
        }
    )
    canary = canary.model_copy(update={"analysis": updated, "window_elapsed_seconds": 0.0})
    draft.update(canary=canary)
    rev = candidate.revision
    if verdict.kind is VerdictKind.PASS:
        draft.canary_health = ConditionValue("True", "AnalysisPassed", f"{rev}: {verdict.message}")
        return False
    if verdict.kind is VerdictKind.FAIL:
        counted = f"analysis failed {failures}/{analysis.failure_limit}: {verdict.message}"
        if failures >= analysis.failure_limit:
            draft.roll_back(candidate, FailureReason.ANALYSIS_FAILED, counted)
            return True
        draft.canary_health = ConditionValue("False", "AnalysisFailed", f"{rev}: {counted}")
        draft.event("Warning", "AnalysisFailed", f"{rev}: {counted}")
        return False
    counted = (
        f"analysis inconclusive {inconclusive}/{analysis.inconclusive_limit}: {verdict.message}"
    )
    if inconclusive < analysis.inconclusive_limit:
        draft.canary_health = ConditionValue("Unknown", "AnalysisInconclusive", f"{rev}: {counted}")
        return False
    if analysis.on_inconclusive == "Abort":
        draft.roll_back(candidate, FailureReason.ANALYSIS_INCONCLUSIVE, counted)
        return True
    message = f"{counted}; paused until `modelpilot promote` or `modelpilot abort`"
    draft.canary_health = ConditionValue("Unknown", "AnalysisInconclusive", f"{rev}: {message}")
    if not canary.paused:
        draft.event("Warning", "CanaryPaused", f"{rev}: {message}")
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
