"""Conditions, derived from the status and the world every tick (never patched piecemeal).

kstatus semantics, so Helm --wait, Argo CD and Flux read health correctly:

- Ready        True when the stable model serves with all its desired pods Ready, behind a
               Service NAME that selects them.
- Reconciling  True while work is in progress (training, pods coming up, canary).
- Stalled      True when progress needs a person: the spec is refused or invalid, the newest
               revision failed, or nothing passed the gate and nothing serves.
- Trained      the newest revision's training: Unknown while it runs.
- Evaluated    the newest revision's gate, with the scores in the message.

`lastTransitionTime` moves only when a condition's status changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from modelpilot.api.gate import GateVerdict
from modelpilot.api.names import LABEL_REVISION
from modelpilot.api.reasons import ConditionReason, ConditionType
from modelpilot.api.status import (
    CandidateState,
    CandidateStatus,
    Condition,
    FailureReason,
    ModelDeploymentStatus,
    Phase,
    Trigger,
)
from modelpilot.operator.rollout.naming import serving_selector
from modelpilot.operator.rollout.world import Stall, World

Status = Literal["True", "False", "Unknown"]
# A condition's reason: one of ours, a failure's, or the gate's verdict (Evaluated).
Reason = ConditionReason | FailureReason | GateVerdict
ORDER = (
    ConditionType.READY,
    ConditionType.RECONCILING,
    ConditionType.STALLED,
    ConditionType.TRAINED,
    ConditionType.EVALUATED,
)


@dataclass(frozen=True)
class ConditionValue:
    """What one condition says this tick; the Condition object adds type, time, generation."""

    status: Status
    reason: Reason
    message: str


@dataclass(frozen=True)
class Problem:
    """The spec cannot be acted on; a person must change it."""

    reason: ConditionReason  # InvalidSpec, EstimatorNotAllowed, NoModelStore, a policy's
    message: str


def failure_message(reason: FailureReason, detail: str) -> str:
    """candidate.message of a failure, as people have always read it: "Reason: detail"."""
    return f"{reason}: {detail}"


def failure_detail(candidate: CandidateStatus) -> str:
    """What went wrong with a failed candidate, without its reason (both are typed fields;
    a status written before failureDetail existed shows its whole message)."""
    return candidate.failure_detail or candidate.message or "unknown"


def stable_unready(status: ModelDeploymentStatus, world: World, replicas: int | None) -> bool:
    """A stable model exists but not all its desired pods are Ready."""
    if status.stable is None or replicas is None:
        return False
    deployment = world.deployments.get(status.stable.revision)
    if deployment is None or not deployment.ready_for(replicas):
        return True
    return not stable_service_selects(status, world)


def stable_service_selects(status: ModelDeploymentStatus, world: World) -> bool:
    """Service NAME exists and selects the stable pods (all versions with the replicas
    router during a canary, which leaves the revision out of its selector)."""
    stable = status.stable
    assert stable is not None
    service = world.services.get(stable.service)
    if service is None:
        return False
    wanted = serving_selector(world.name)
    return (
        all(service.selector.get(k) == v for k, v in wanted.items())
        and service.selector.get(LABEL_REVISION, stable.revision) == stable.revision
    )


def conditions_for(
    status: ModelDeploymentStatus,
    world: World,
    *,
    problem: Problem | None,
    replicas: int | None,
    previous: list[Condition],
    now: datetime,
    stall: Stall | None = None,
) -> list[Condition]:
    newest = status.candidate
    computed = {
        ConditionType.READY: _ready(status, world, replicas),
        ConditionType.RECONCILING: _reconciling(status, world, replicas, problem),
        ConditionType.STALLED: _stalled(status, problem, stall),
        ConditionType.TRAINED: _trained(status, newest),
        ConditionType.EVALUATED: _evaluated(status, newest),
    }
    before = {c.type: c for c in previous}
    out = []
    for type_ in ORDER:
        value = computed[type_]
        old = before.get(type_)
        since = old.last_transition_time if old is not None and old.status == value.status else now
        out.append(
            Condition(
                type=type_,
                status=value.status,
                reason=value.reason,
                message=value.message,
                last_transition_time=since,
                observed_generation=world.generation,
            )
        )
    # Conditions this module does not own (CanaryHealthy) are kept as they were.
    out += [c for c in previous if c.type not in ORDER]
    return out


def carried_stall(conditions: list[Condition], reasons: frozenset[ConditionReason]) -> Stall | None:
    """The Stalled condition an earlier tick's failed action wrote, while it still stands."""
    stalled = next((c for c in conditions if c.type == ConditionType.STALLED), None)
    if stalled is None or stalled.status != "True" or stalled.reason not in reasons:
        return None
    return Stall(ConditionReason(stalled.reason), stalled.message, until_converged=True)


def with_stall(
    status: ModelDeploymentStatus, stall: Stall, *, now: datetime, generation: int
) -> ModelDeploymentStatus:
    """`status` with Stalled=True for a permanent error that applying an action ran into."""
    old = status.condition(ConditionType.STALLED)
    since = old.last_transition_time if old is not None and old.status == "True" else now
    stalled = Condition(
        type=ConditionType.STALLED,
        status="True",
        reason=stall.reason,
        message=stall.message,
        last_transition_time=since,
        observed_generation=generation,
    )
    conditions = [stalled if c.type == ConditionType.STALLED else c for c in status.conditions]
    return status.model_copy(update={"conditions": conditions, "message": headline(conditions)})


def headline(conditions: list[Condition]) -> str:
    """status.message: what a person should read first."""
    by_type = {c.type: c for c in conditions}
    for type_ in (ConditionType.STALLED, ConditionType.RECONCILING):
        c = by_type.get(type_)
        if c is not None and c.status == "True":
            return c.message
    ready = by_type.get(ConditionType.READY)
    return ready.message if ready is not None else ""


def _score(candidate: CandidateStatus) -> str:
    if candidate.candidate_score is None:
        return ""
    return f" ({candidate.metric} {candidate.candidate_score:.4f})"


def _ready(status: ModelDeploymentStatus, world: World, replicas: int | None) -> ConditionValue:
    stable = status.stable
    if stable is None:
        if status.phase in (Phase.TRAINING, Phase.DEPLOYING):
            revision = status.candidate.revision if status.candidate else "v1"
            message = f"no model serves yet: {revision} is {status.phase.lower()}"
            return ConditionValue("False", ConditionReason.NO_MODEL_YET, message)
        return ConditionValue(
            "False",
            ConditionReason.NO_MODEL,
            "no revision has passed the gate yet, so nothing serves",
        )
    deployment = world.deployments.get(stable.revision)
    score = "" if stable.score is None else f" ({stable.metric} {stable.score:.4f})"
    if deployment is None:
        return ConditionValue(
            "False",
            ConditionReason.STABLE_UNAVAILABLE,
            f"{stable.revision}: Deployment {stable.deployment} is missing; recreating it",
        )
    wanted = replicas if replicas is not None else deployment.replicas
    pods = f"{deployment.ready_replicas}/{wanted} pods ready"
    service = world.services.get(stable.service)
    selects = stable_service_selects(status, world)
    if not selects:
        # Pods without the Service that sends to them serve no one (deleted by hand, or its
        # selector edited): not Ready until the operator has put it back.
        what = "is missing" if service is None else "does not select its pods"
        return ConditionValue(
            "False",
            ConditionReason.STABLE_SERVICE_UNAVAILABLE,
            f"{stable.revision}: Service {stable.service} {what}; restoring it",
        )
    if deployment.ready_for(wanted):
        return ConditionValue(
            "True", ConditionReason.SERVING, f"{stable.revision} serves{score}, {pods}"
        )
    detail = f": {deployment.pod_problem}" if deployment.pod_problem else ""
    return ConditionValue(
        "False", ConditionReason.STABLE_UNAVAILABLE, f"{stable.revision}{score}: {pods}{detail}"
    )


def _reconciling(
    status: ModelDeploymentStatus, world: World, replicas: int | None, problem: Problem | None
) -> ConditionValue:
    candidate = status.candidate
    if problem is None and candidate is not None and candidate.state is CandidateState.TRAINING:
        job = world.jobs.get(candidate.revision)
        if job is not None and job.pod_problem:
            return ConditionValue(
                "True",
                ConditionReason.TRAINING_PENDING,
                f"{candidate.revision}: training pod not running: {job.pod_problem}",
            )
        return ConditionValue(
            "True",
            ConditionReason.TRAINING,
            f"{candidate.revision} is training in Job {candidate.job}",
        )
    if problem is None and candidate is not None and candidate.state is CandidateState.DEPLOYING:
        deployment = world.deployments.get(candidate.revision)
        ready = 0 if deployment is None else deployment.ready_replicas
        detail = f": {deployment.pod_problem}" if deployment and deployment.pod_problem else ""
        wanted = replicas if replicas is not None else "?"
        passed = f"{candidate.revision} passed the gate{_score(candidate)}"
        if candidate.trigger is Trigger.PINNED:
            passed = f"{candidate.revision} is pinned (spec.serving.pinRevision)"
        return ConditionValue(
            "True", ConditionReason.DEPLOYING, f"{passed}; {ready}/{wanted} pods ready{detail}"
        )
    if problem is None and candidate is not None and candidate.state is CandidateState.CANARY:
        canary = status.canary
        if canary is None:
            return ConditionValue(
                "True", ConditionReason.CANARY, f"{candidate.revision} is a canary"
            )
        actual = "" if canary.actual_weight is None else f" (actual {canary.actual_weight}%)"
        waiting = f"; {canary.message}" if canary.message else ""
        return ConditionValue(
            "True",
            ConditionReason.CANARY,
            f"{candidate.revision} is a canary at step {canary.step or canary.step_index}, "
            f"weight {canary.weight}%{actual}{waiting}",
        )
    if stable_unready(status, world, replicas):
        assert status.stable is not None
        return ConditionValue(
            "True",
            ConditionReason.STABLE_ROLLING_OUT,
            f"{status.stable.revision}: waiting for its pods to be Ready and its Service",
        )
    return ConditionValue("False", ConditionReason.RECONCILED, "nothing in progress")


def _stalled(
    status: ModelDeploymentStatus, problem: Problem | None, stall: Stall | None
) -> ConditionValue:
    if problem is not None:
        return ConditionValue("True", problem.reason, problem.message)
    if stall is not None:
        return ConditionValue("True", stall.reason, stall.message)
    candidate = status.candidate
    if candidate is not None and candidate.state is CandidateState.FAILED:
        reason = candidate.failure_reason or ConditionReason.FAILED
        detail = failure_detail(candidate)
        return ConditionValue(
            "True",
            reason,
            (
                f"{candidate.revision} failed: {detail}. Fix the spec and apply it, or run "
                f"`modelpilot retrain` to try again"
            ),
        )
    if (
        candidate is not None
        and candidate.state is CandidateState.REJECTED
        and status.stable is None
    ):
        return ConditionValue(
            "True",
            ConditionReason.NO_MODEL_PASSED,
            (
                f"{candidate.revision} was rejected by the gate: {candidate.message}. "
                "Nothing serves: change the model or spec.evaluation"
            ),
        )
    return ConditionValue("False", ConditionReason.PROGRESSING, "no person needed")


def _trained(status: ModelDeploymentStatus, candidate: CandidateStatus | None) -> ConditionValue:
    if candidate is None:
        if status.stable is not None:
            s = status.stable
            score = "" if s.score is None else f" ({s.metric} {s.score:.4f})"
            return ConditionValue("True", ConditionReason.TRAINED, f"{s.revision} trained{score}")
        return ConditionValue("Unknown", ConditionReason.NOT_STARTED, "no revision has started")
    if candidate.state is CandidateState.TRAINING:
        return ConditionValue(
            "Unknown", ConditionReason.TRAINING, f"{candidate.revision} is training"
        )
    if candidate.model_sha256 is None:
        if candidate.state is CandidateState.SUPERSEDED:
            return ConditionValue(
                "Unknown",
                ConditionReason.SUPERSEDED,
                f"{candidate.revision} was superseded before it finished",
            )
        reason = candidate.failure_reason or FailureReason.TRAINING_FAILED
        return ConditionValue("False", reason, f"{candidate.revision}: {failure_detail(candidate)}")
    return ConditionValue(
        "True", ConditionReason.TRAINED, f"{candidate.revision} trained{_score(candidate)}"
    )


def _evaluated(status: ModelDeploymentStatus, candidate: CandidateStatus | None) -> ConditionValue:
    if candidate is None:
        if status.stable is not None:
            why = next(
                (h.message for h in status.history if h.revision == status.stable.revision), None
            )
            return ConditionValue(
                "True",
                ConditionReason.PASSED,
                f"{status.stable.revision}: {why or 'passed the gate'}",
            )
        return ConditionValue(
            "Unknown", ConditionReason.NOT_STARTED, "no revision has been evaluated"
        )
    if candidate.trigger is Trigger.PINNED:
        return ConditionValue(
            "True", ConditionReason.PINNED, f"{candidate.revision}: {candidate.message}"
        )
    if candidate.verdict is None:
        return ConditionValue(
            "Unknown", ConditionReason.NOT_EVALUATED, f"{candidate.revision} has not been evaluated"
        )
    if candidate.verdict is GateVerdict.PASSED:
        return ConditionValue(
            "True", ConditionReason.PASSED, f"{candidate.revision}: {candidate.message}"
        )
    return ConditionValue("False", candidate.verdict, f"{candidate.revision}: {candidate.message}")
