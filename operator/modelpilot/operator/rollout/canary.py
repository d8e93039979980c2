"""The canary's arithmetic: which step, whether a canary is live, when a window is due.

Pure helpers that plan() and the I/O edge (modelpilot.operator.live) share, so both sides
agree on, say, when the next analysis window is due without either reading the other's mind.
How the traffic is split (pods, routes) is the traffic strategy's (rollout.traffic).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelpilot.api.spec import ModelDeploymentSpec, Rollout
from modelpilot.api.status import CanaryStatus, CandidateState, ModelDeploymentStatus

SNAPSHOT_FIELDS = ("traffic_router", "steps")


def rollout_snapshot(spec: ModelDeploymentSpec) -> dict[str, Any]:
    """What status.canary.rollout keeps of the spec when a canary starts: router and steps."""
    return spec.rollout.model_dump(
        mode="json", by_alias=True, exclude_none=True, include=set(SNAPSHOT_FIELDS)
    )


def spec_with_started_rollout(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus
) -> ModelDeploymentSpec:
    """The spec with the router and steps a canary started with, while status has them.

    A canary is walked with the route it started on: an edit of spec.rollout mid-canary
    (another router, other steps) would otherwise strand traffic on a route nobody finalizes
    or skip straight to a later step. The edit is deferred to the next revision; the canary
    still ends (promotion, abort, rollback) through the router that carries its traffic.
    """
    canary = status.canary
    if canary is None or canary.rollout is None:
        return spec
    snapshot = Rollout.model_validate({**spec.rollout.model_dump(by_alias=True), **canary.rollout})
    rollout = spec.rollout.model_copy(update={f: getattr(snapshot, f) for f in SNAPSHOT_FIELDS})
    return spec.model_copy(update={"rollout": rollout})


def rollout_deferred(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> bool:
    """spec.rollout's router or steps differ from what the live canary started with."""
    canary = status.canary
    return (
        canary_is_live(status)
        and canary is not None
        and canary.rollout is not None
        and rollout_snapshot(spec) != canary.rollout
    )


def canary_is_live(status: ModelDeploymentStatus) -> bool:
    """A canary is running: candidate in state Canary beside a stable, with canary status."""
    candidate, canary = status.candidate, status.canary
    return (
        candidate is not None
        and candidate.state is CandidateState.CANARY
        and canary is not None
        and canary.revision == candidate.revision
        and status.stable is not None
    )


def seconds_until_analysis_window(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime
) -> float | None:
    """Seconds until the next analysis window is due (0: due now); None while none will be.

    Windows run while the canary takes traffic (weight > 0): the first query of a version only
    sets the baseline, then one window every `analysis.interval`.
    """
    if not canary_is_live(status):
        return None
    canary = status.canary
    assert canary is not None
    if canary.weight <= 0:
        return None
    if canary.analysis.last_window_at is None:
        return 0.0
    elapsed = with_elapsed(canary, now).window_elapsed_seconds
    return max(0.0, spec.rollout.analysis.interval_seconds - elapsed)


def window_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    return seconds_until_analysis_window(spec, status, now) == 0.0


# --- time ---------------------------------------------------------------------------------
#
# Pauses and analysis intervals are measured by adding up the gaps between ticks, each gap
# bounded to [0, MAX_TICK_GAP_SECONDS], never by subtracting a wall-clock reading from a
# start time. So a forward clock jump (NTP stepping the node's clock, a VM resumed) advances
# a pause by at most one tick's gap instead of ending it at once, and a backward jump adds
# nothing for one tick and then counts on from the new reading instead of stalling until the
# clock catches up. During a canary the operator looks at least every 10 s
# (plan.REQUEUE_WAITING_FOR_PODS), so a gap longer than that is a jump or an operator that
# was down; either way it counts as no more than the bound, and the pause runs longer,
# never shorter. docs/canary-analysis.md says the same for people.
MAX_TICK_GAP_SECONDS = 10.0


def tick_gap(observed_at: datetime | None, now: datetime) -> float:
    """Seconds to add since the last tick's reading, bounded to [0, MAX_TICK_GAP_SECONDS]."""
    if observed_at is None:
        return 0.0
    return min(max((now - observed_at).total_seconds(), 0.0), MAX_TICK_GAP_SECONDS)


def with_elapsed(canary: CanaryStatus, now: datetime) -> CanaryStatus:
    """`canary` with its step and window clocks advanced to `now` (pure; same answer for the
    I/O edge before plan() and for plan() itself)."""
    now = now.replace(microsecond=0)
    if canary.observed_at is None:
        # A canary status from before these clocks: start them from the recorded times.
        started, last = canary.step_started_at, canary.analysis.last_window_at
        step = 0.0 if started is None else (now - started).total_seconds()
        window = 0.0 if last is None else (now - last).total_seconds()
        return canary.model_copy(
            update={
                "elapsed_seconds": max(step, 0.0),
                "window_elapsed_seconds": max(window, 0.0),
                "observed_at": now,
            }
        )
    gap = tick_gap(canary.observed_at, now)
    if gap == 0.0 and canary.observed_at == now:
        return canary
    return canary.model_copy(
        update={
            "elapsed_seconds": canary.elapsed_seconds + gap,
            "window_elapsed_seconds": canary.window_elapsed_seconds + gap,
            "observed_at": now,
        }
    )
