"""spec.serving.pinRevision: serve an earlier revision again, by its recorded digest.

Going back is a pin, not a retrain. Every concluded revision's bundle stays in the store and
status.history keeps its model digest, scores and spec hash, so a pin makes that revision the
candidate again — starting at Deploying, with no Job — and the usual path takes it from
there: straight to stable without spec.rollout.steps, through the canary's steps (and their
analysis) with them. Serving pods verify the bundle against the digest from history before
unpickling it, exactly as for a freshly trained revision.

While a pin is set nothing trains: plan() asks this module instead of the triggers, so a
spec change, a retrain request or the schedule waits (the status still remembers the last
spec hash and request it acted on, so each fires once the pin is removed). A pinned revision
that fails or is rolled back is not retried until the pin changes: the stable model serves.
"""

from __future__ import annotations

from modelpilot.api.reasons import ConditionReason, EventReason
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import CandidateState, CandidateStatus, HistoryEntry, Trigger
from modelpilot.operator.rollout import conditions as cond
from modelpilot.operator.rollout.draft import Draft
from modelpilot.operator.rollout.naming import deployment_name, job_name

IN_FLIGHT = (CandidateState.TRAINING, CandidateState.DEPLOYING, CandidateState.CANARY)
GAVE_UP = (CandidateState.FAILED, CandidateState.ROLLED_BACK)


def pinned_revision(spec: ModelDeploymentSpec) -> str | None:
    return spec.serving.pin_revision


def pinnable(history: list[HistoryEntry], revision: str) -> HistoryEntry | None:
    """The history entry a pin to `revision` serves from: one with a recorded digest."""
    return next((h for h in history if h.revision == revision and h.model_sha256 is not None), None)


def follow_pin(draft: Draft, spec: ModelDeploymentSpec, pin: str) -> None:
    """Make the pinned revision the candidate unless it serves, or is on its way, already."""
    status = draft.status
    candidate = status.candidate
    on_its_way = (
        candidate is not None
        and candidate.revision == pin
        and candidate.state in (CandidateState.DEPLOYING, CandidateState.CANARY)
    )
    if on_its_way:
        return
    if candidate is not None and candidate.state in IN_FLIGHT:
        draft.conclude(CandidateState.SUPERSEDED, f"superseded: spec.serving.pinRevision is {pin}")
        draft.event(
            "Normal", EventReason.SUPERSEDED, f"{candidate.revision} stopped: {pin} is pinned"
        )
    stable = draft.status.stable
    if stable is not None and stable.revision == pin:
        return
    candidate = draft.status.candidate
    if (
        candidate is not None
        and candidate.trigger is Trigger.PINNED
        and candidate.revision == pin
        and candidate.state in GAVE_UP
    ):
        return  # tried and did not make it: the stable model serves; a new pin tries again
    entry = pinnable(status.history, pin)
    if entry is None:
        listed = ", ".join(h.revision for h in status.history if h.model_sha256) or "none"
        draft.problem = cond.Problem(
            ConditionReason.PIN_UNKNOWN,
            f"spec.serving.pinRevision {pin} has no model digest in status.history "
            f"(revisions that can be pinned: {listed}); pin one of them or remove the pin",
        )
        return
    pinned = _pinned_candidate(draft, pin, entry)
    draft.update(candidate=pinned, canary=None)
    assert pinned.model_sha256 is not None
    replacing = "" if stable is None else f", replacing {stable.revision}"
    draft.event(
        "Normal",
        EventReason.PIN_APPLIED,
        f"{pin} goes back into service by its digest {pinned.model_sha256[:12]}{replacing}; "
        "nothing trains while the pin is set",
    )


def _pinned_candidate(draft: Draft, pin: str, entry: HistoryEntry) -> CandidateStatus:
    """The history entry as a candidate that deploys by its recorded digest, untrained."""
    assert entry.model_sha256 is not None
    name, stable = draft.world.name, draft.status.stable
    return CandidateStatus(
        revision=pin,
        state=CandidateState.DEPLOYING,
        trigger=Trigger.PINNED,
        spec_hash=entry.spec_hash or "",
        estimator=entry.estimator,
        params=entry.params,
        job=job_name(name, pin),  # the Job that trained it once; none is created now
        started_at=draft.now,
        model_sha256=entry.model_sha256,
        metric=entry.metric,
        candidate_score=entry.score,
        stable_score=entry.stable_score,
        stable_revision=None if stable is None else stable.revision,
        holdout_sha256=entry.holdout_sha256,
        training_data_sha256=entry.training_data_sha256,
        message=f"pinned by spec.serving.pinRevision (trained {entry.outcome.lower()} "
        f"before; not re-evaluated)",
        deployment=deployment_name(name, pin),
    )
