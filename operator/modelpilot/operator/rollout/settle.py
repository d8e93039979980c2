"""The end of every tick: the phase and the conditions follow from the status plan() built.

The phase is a function of the candidate, the stable and a refused spec (`derive_phase`,
checked against the transitions table in rollout.phases); the conditions come from
rollout.conditions, plus the CanaryHealthy verdict the canary's steps reached this tick, the
Drifted verdict of a monitoring window (rollout.drift), and a Stalled one for a permanent
problem found outside plan() (World.stall).
"""

from __future__ import annotations

from modelpilot.api.reasons import ConditionType
from modelpilot.api.status import (
    CandidateState,
    Condition,
    ModelDeploymentStatus,
    Phase,
)
from modelpilot.operator.rollout import conditions as cond
from modelpilot.operator.rollout.draft import Draft
from modelpilot.operator.rollout.phases import check_transition

CANDIDATE_PHASE = {
    CandidateState.TRAINING: Phase.TRAINING,
    CandidateState.DEPLOYING: Phase.DEPLOYING,
    CandidateState.CANARY: Phase.CANARY,
    CandidateState.REJECTED: Phase.REJECTED,
    CandidateState.FAILED: Phase.FAILED,
    CandidateState.ROLLED_BACK: Phase.ROLLED_BACK,
}


def settle_phase_and_conditions(
    draft: Draft,
    *,
    replicas: int | None,
    old: ModelDeploymentStatus,
    monitored: bool = True,
    judged_by_labels: bool = True,
) -> None:
    """The phase and the conditions, derived from the status this tick built (never patched
    piecemeal), with a Warning Event when something newly needs a person."""
    status = draft.status
    phase = derive_phase(status, draft.problem)
    check_transition(old.phase, phase)
    stall = draft.world.stall
    if stall is not None and stall.until_converged and not draft.actions:
        stall = None  # the actions it was found applying are done: nothing is stuck now
    conditions = cond.conditions_for(
        status.model_copy(update={"phase": phase}),
        draft.world,
        problem=draft.problem,
        replicas=replicas,
        previous=old.conditions,
        now=draft.now,
        stall=stall,
    )
    if draft.canary_health is not None:
        conditions = _with_condition(
            conditions, ConditionType.CANARY_HEALTHY, draft.canary_health, draft
        )
    if draft.drift_condition is not None:
        drift = draft.drift_condition
        conditions = _with_condition(conditions, ConditionType.DRIFTED, drift, draft)
    elif not monitored:  # spec.monitoring was removed: so is its condition
        conditions = [c for c in conditions if c.type != ConditionType.DRIFTED]
    if draft.degraded_condition is not None:
        degraded = draft.degraded_condition
        conditions = _with_condition(conditions, ConditionType.DEGRADED, degraded, draft)
    elif not judged_by_labels:  # spec.monitoring.performance was removed
        conditions = [c for c in conditions if c.type != ConditionType.DEGRADED]
    stuck = draft.problem or stall  # why a person must act, if anything
    if stuck is not None:
        before = old.condition(ConditionType.STALLED)
        if before is None or before.reason != stuck.reason or before.status != "True":
            draft.event("Warning", stuck.reason, stuck.message)
    draft.update(
        phase=phase,
        conditions=conditions,
        observed_generation=draft.world.generation,
        message=cond.headline(conditions),
    )


def _with_condition(
    conditions: list[Condition],
    type_: ConditionType,
    judged: cond.ConditionValue,
    draft: Draft,
) -> list[Condition]:
    """A condition plan() judged this tick (CanaryHealthy, Drifted, Degraded), its time kept
    when the status did not change."""
    old = next((c for c in conditions if c.type == type_), None)
    same = old is not None and old.status == judged.status
    since = old.last_transition_time if old is not None and same else draft.now
    new = Condition(
        type=type_,
        status=judged.status,
        reason=judged.reason,
        message=judged.message,
        last_transition_time=since,
        observed_generation=draft.world.generation,
    )
    return [c for c in conditions if c.type != type_] + [new]


def derive_phase(status: ModelDeploymentStatus, problem: cond.Problem | None) -> Phase:
    """The phase is a function of the candidate, the stable and a refused spec."""
    if problem is not None:
        return Phase.FAILED
    candidate = status.candidate
    if candidate is not None and candidate.state in CANDIDATE_PHASE:
        return CANDIDATE_PHASE[candidate.state]
    return Phase.SERVING if status.stable is not None else Phase.PENDING
