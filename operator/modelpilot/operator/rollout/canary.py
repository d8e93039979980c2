"""The canary's arithmetic: which step, whether a canary is live, when a window is due.

Pure helpers that plan() and the I/O edge (modelpilot.operator.live) share, so both sides
agree on, say, when the next analysis window is due without either reading the other's mind.
How the traffic is split (pods, routes) is the traffic strategy's (rollout.traffic).
"""

from __future__ import annotations

from datetime import datetime

from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import CandidateState, ModelDeploymentStatus


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


def seconds_until_window(
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
    last = canary.analysis.last_window_at
    if last is None:
        return 0.0
    now = now.replace(microsecond=0)
    elapsed = (now - last).total_seconds()
    return max(0.0, spec.rollout.analysis.interval_seconds - elapsed)


def window_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    return seconds_until_window(spec, status, now) == 0.0
