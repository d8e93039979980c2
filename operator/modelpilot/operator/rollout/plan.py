"""plan(): from (spec, status, world, now) to the actions, the new status and the Events.

One tick, read top to bottom:

1. an invalid spec changes nothing but the conditions (the stable model keeps serving);
2. a trigger (new spec, retrain request, schedule) supersedes what is in flight and starts
   revision N+1 — unless the operator refuses the spec (estimator not allowed, no store);
3. the candidate advances one step: Job absent -> create it; Job done -> gate;
   passed -> its Deployment; Deployment Ready -> it becomes stable (issue 6 puts the canary
   between those two);
4. the stable Deployment and Services are kept as the spec says;
5. objects of no current revision are swept away;
6. the phase and the conditions are derived from the resulting status.

The status is written before the actions run (modelpilot.operator.reconcile), so the
revision counter of a Job is persisted before the Job exists: a restart at any point finds
the same names and creates nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from modelpilot.api import names
from modelpilot.api.gate import judge
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import (
    HISTORY_LIMIT,
    CandidateState,
    CandidateStatus,
    HistoryEntry,
    ModelDeploymentStatus,
    Phase,
    StableStatus,
    Trigger,
)
from modelpilot.operator.rollout import conditions as cond
from modelpilot.operator.rollout.actions import (
    Action,
    CreateTrainingJob,
    DeleteDeployment,
    DeleteJob,
    DeleteService,
    EnsureService,
    EnsureServingDeployment,
    ScaleDeployment,
)
from modelpilot.operator.rollout.naming import (
    deployment_name,
    job_name,
    revision_service_name,
    serving_selector,
    stable_service_name,
)
from modelpilot.operator.rollout.phases import check_transition
from modelpilot.operator.rollout.triggers import (
    estimator_refusal,
    next_fire,
    revision_trigger,
    spec_hash,
    training_document,
)
from modelpilot.operator.rollout.world import World

# How soon to look again when nothing else wakes us. Owned Jobs, Pods and Deployments wake
# the operator through watch events, so these are only the safety net.
REQUEUE_IN_FLIGHT = 30.0
REQUEUE_WAITING_FOR_PODS = 10.0

CANDIDATE_PHASE = {
    CandidateState.TRAINING: Phase.TRAINING,
    CandidateState.DEPLOYING: Phase.DEPLOYING,
    CandidateState.CANARY: Phase.CANARY,
    CandidateState.REJECTED: Phase.REJECTED,
    CandidateState.FAILED: Phase.FAILED,
    CandidateState.ROLLED_BACK: Phase.ROLLED_BACK,
}


@dataclass(frozen=True)
class InvalidSpec:
    """The spec could not be parsed (the CRD's validation was bypassed or is older)."""

    message: str


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    status: ModelDeploymentStatus
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None  # seconds; None: wait for a watch event


@dataclass
class _Draft:
    """The plan being built; mutable only inside one plan() call."""

    world: World
    now: datetime
    status: ModelDeploymentStatus
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    problem: cond.Problem | None = None  # why the spec is refused; None when it is fine

    def update(self, **changes: object) -> None:
        self.status = self.status.model_copy(update=changes)

    def update_candidate(self, **changes: object) -> CandidateStatus:
        assert self.status.candidate is not None
        candidate = self.status.candidate.model_copy(update=changes)
        self.update(candidate=candidate)
        return candidate

    def event(self, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.events.append(Event(type_, reason, message))

    def conclude(self, state: CandidateState, message: str | None) -> None:
        """The candidate ends (rejected, failed, superseded ...): record it in history."""
        candidate = self.update_candidate(state=state, finished_at=self.now, message=message)
        self.update(history=_with_history(self.status, candidate, state))


def plan(
    spec: ModelDeploymentSpec | InvalidSpec,
    status: ModelDeploymentStatus,
    world: World,
    now: datetime,
) -> Plan:
    now = now.astimezone(UTC).replace(microsecond=0)
    draft = _Draft(world=world, now=now, status=status)
    if isinstance(spec, InvalidSpec):
        draft.problem = cond.Problem("InvalidSpec", spec.message)
    else:
        _start_revision_when_triggered(draft, spec)
        _advance_candidate(draft, spec)
        _keep_stable_serving(draft, spec)
        _sweep_what_no_revision_needs(draft)
        _schedule_next(draft, spec)
    _settle_phase_and_conditions(draft, spec, old=status)
    return Plan(
        actions=tuple(draft.actions),
        status=draft.status,
        events=tuple(draft.events),
        requeue_after=_requeue_after(draft, spec),
    )


# --- 2. triggers ----------------------------------------------------------------------


def _start_revision_when_triggered(draft: _Draft, spec: ModelDeploymentSpec) -> None:
    status, world = draft.status, draft.world
    trigger = revision_trigger(spec, status, annotations=world.annotations, now=draft.now)
    if trigger is None:
        return
    if status.phase.in_flight and status.candidate is not None:
        # A newer spec wins: the stale candidate is stopped (the sweep deletes its Job or
        # Deployment) and the new revision starts from a clean slate.
        old = status.candidate
        draft.conclude(CandidateState.SUPERSEDED, f"superseded by a new revision ({trigger})")
        draft.event(
            "Normal", "Superseded", f"{old.revision} stopped: a new revision starts ({trigger})"
        )
    refusal = estimator_refusal(spec, world.estimator_allowlist)
    if refusal is not None:
        draft.problem = cond.Problem("EstimatorNotAllowed", refusal)
        return
    claim = _store_claim(spec, world)
    if claim is None:
        draft.problem = cond.Problem(
            "NoModelStore",
            "spec.modelStore.pvc.claimName is not set and the operator has no default store "
            "(MODELPILOT_DEFAULT_STORE_PVC): name a PersistentVolumeClaim",
        )
        return

    number = status.revision_counter + 1
    revision = names.revision_name(number)
    stable = status.stable
    candidate = CandidateStatus(
        revision=revision,
        state=CandidateState.TRAINING,
        trigger=trigger,
        spec_hash=spec_hash(spec),
        job=job_name(world.name, revision),
        started_at=draft.now,
        metric=spec.evaluation.metric,
        threshold=spec.evaluation.threshold,
        stable_revision=None if stable is None else stable.revision,
    )
    draft.update(
        revision_counter=number,
        last_spec_hash=candidate.spec_hash,
        last_retrain_request=world.annotations.get(names.ANNOTATION_RETRAIN)
        or status.last_retrain_request,
        last_revision_started_at=draft.now,
        candidate=candidate,
        canary=None,
    )
    draft.event(
        "Normal", "RevisionStarted", f"{revision} started ({trigger}): training Job {candidate.job}"
    )


def _store_claim(spec: ModelDeploymentSpec, world: World) -> str | None:
    if spec.model_store is not None and spec.model_store.pvc is not None:
        return spec.model_store.pvc.claim_name
    return world.default_store_claim


# --- 3. the candidate -----------------------------------------------------------------


def _advance_candidate(draft: _Draft, spec: ModelDeploymentSpec) -> None:
    candidate = draft.status.candidate
    if candidate is None or draft.problem is not None:
        return
    if candidate.state is CandidateState.TRAINING:
        _advance_training(draft, spec, candidate)
    candidate = draft.status.candidate
    if candidate is not None and candidate.state is CandidateState.DEPLOYING:
        _advance_deploying(draft, spec, candidate)
    # issue 6: CandidateState.CANARY advances here, one step per tick (status.canary).


def _advance_training(draft: _Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus) -> None:
    world, stable = draft.world, draft.status.stable
    job = world.jobs.get(candidate.revision)
    if job is None:
        claim = _store_claim(spec, world)
        assert claim is not None  # checked when the revision started
        resources = spec.training.resources
        same_stable = stable is not None and stable.revision == candidate.stable_revision
        draft.actions.append(
            CreateTrainingJob(
                name=candidate.job,
                model=world.name,
                revision=candidate.revision,
                spec_json=json.dumps(training_document(spec), sort_keys=True),
                store_claim=claim,
                active_deadline_seconds=spec.training.active_deadline_seconds,
                backoff_limit=spec.training.backoff_limit,
                image=spec.training.image,
                resources=None
                if resources is None
                else resources.model_dump(by_alias=True, exclude_none=True),
                stable_revision=stable.revision if same_stable and stable else None,
                stable_sha256=stable.model_sha256 if same_stable and stable else None,
            )
        )
        return
    if not job.finished:
        return  # running or pending; conditions report job.pod_problem

    summary = job.summary
    if job.failed or summary is None or not summary.ok:
        reason = (
            "TrainingTimedOut" if job.failure_reason == "DeadlineExceeded" else "TrainingFailed"
        )
        detail = (
            (summary.error if summary is not None and summary.error else None)
            or job.summary_problem
            or job.failure_message
            or "the trainer reported no summary"
        )
        draft.conclude(CandidateState.FAILED, f"{reason}: {detail}")
        draft.event("Warning", reason, f"{candidate.revision}: {detail}")
        return

    if summary.candidate_score is None or summary.model_sha256 is None:
        message = "TrainingFailed: the trainer's summary has no score or model digest"
        draft.conclude(CandidateState.FAILED, message)
        draft.event("Warning", "TrainingFailed", f"{candidate.revision}: {message}")
        return
    compared = candidate.stable_revision is not None
    gate = judge(
        metric=spec.evaluation.metric,
        candidate_score=summary.candidate_score,
        stable_score=summary.stable_score if compared else None,
        threshold=spec.evaluation.threshold,
        must_beat_stable=spec.evaluation.must_beat_stable,
        tolerance=spec.evaluation.tolerance,
    )
    candidate = draft.update_candidate(
        model_sha256=summary.model_sha256,
        candidate_score=gate.candidate_score,
        stable_score=gate.stable_score,
        delta=gate.delta,
        holdout_sha256=summary.holdout_sha256,
        verdict=str(gate.verdict),
        message=gate.message,
    )
    if not gate.passed:
        draft.conclude(CandidateState.REJECTED, gate.message)
        draft.event("Warning", "GateRejected", f"{candidate.revision}: {gate.message}")
        return
    draft.update_candidate(
        state=CandidateState.DEPLOYING,
        deployment=deployment_name(world.name, candidate.revision),
    )
    draft.event("Normal", "GatePassed", f"{candidate.revision}: {gate.message}")


def _advance_deploying(
    draft: _Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus
) -> None:
    world = draft.world
    assert candidate.model_sha256 is not None
    replicas = spec.serving.replicas
    _ensure_revision_serving(draft, spec, candidate.revision, candidate.model_sha256, replicas)
    deployment = world.deployments.get(candidate.revision)
    if deployment is not None and deployment.progress_failure:
        detail = deployment.pod_problem or deployment.progress_failure
        message = f"DeploymentFailed: pods of {deployment.name} did not become Ready: {detail}"
        draft.conclude(CandidateState.FAILED, message)
        draft.event("Warning", "DeploymentFailed", f"{candidate.revision}: {message}")
        return
    if deployment is None or not deployment.ready_for(replicas):
        return
    # Ready: it replaces stable at once. issue 6 puts the canary here when a stable exists
    # and spec.rollout.steps is not empty (state CANARY, status.canary.stepIndex 0).
    _promote(draft, candidate)


def _promote(draft: _Draft, candidate: CandidateStatus) -> None:
    assert candidate.model_sha256 is not None and candidate.deployment is not None
    old = draft.status.stable
    stable = StableStatus(
        revision=candidate.revision,
        model_sha256=candidate.model_sha256,
        metric=candidate.metric,
        score=candidate.candidate_score,
        deployment=candidate.deployment,
        service=stable_service_name(draft.world.name),
        spec_hash=candidate.spec_hash,
        trigger=candidate.trigger,
        promoted_at=draft.now,
    )
    promoted = candidate.model_copy(
        update={"state": CandidateState.PROMOTED, "finished_at": draft.now}
    )
    draft.update(
        stable=stable,
        candidate=None,
        canary=None,
        history=_with_history(draft.status, promoted, CandidateState.PROMOTED),
    )
    score = "" if stable.score is None else f" ({stable.metric} {stable.score:.4f})"
    replacing = "" if old is None else f", replacing {old.revision}"
    draft.event("Normal", "Promoted", f"{stable.revision} serves{score}{replacing}")


# --- 4. stable ------------------------------------------------------------------------


def _keep_stable_serving(draft: _Draft, spec: ModelDeploymentSpec) -> None:
    stable = draft.status.stable
    if stable is None:
        return
    _ensure_revision_serving(
        draft, spec, stable.revision, stable.model_sha256, spec.serving.replicas
    )
    _ensure_service(
        draft,
        EnsureService(
            name=stable.service,
            model=draft.world.name,
            selector=serving_selector(draft.world.name, stable.revision),
        ),
    )


def _ensure_revision_serving(
    draft: _Draft, spec: ModelDeploymentSpec, revision: str, sha256: str, replicas: int
) -> None:
    """The revision's Deployment and per-version Service, as the spec wants them now."""
    world = draft.world
    claim = _store_claim(spec, world)
    if claim is None:  # the store was removed from the spec after the model was trained
        draft.problem = draft.problem or cond.Problem(
            "NoModelStore", "spec.modelStore.pvc.claimName is not set and there is no default"
        )
        return
    resources = spec.serving.resources
    wanted = EnsureServingDeployment(
        name=deployment_name(world.name, revision),
        model=world.name,
        revision=revision,
        model_sha256=sha256,
        store_claim=claim,
        replicas=replicas,
        image=spec.serving.image,
        resources=None
        if resources is None
        else resources.model_dump(by_alias=True, exclude_none=True),
    )
    observed = world.deployments.get(revision)
    if observed is None or observed.intent_hash != wanted.intent_hash():
        draft.actions.append(wanted)
    elif observed.replicas != replicas:
        draft.actions.append(ScaleDeployment(name=wanted.name, replicas=replicas))
    _ensure_service(
        draft,
        EnsureService(
            name=revision_service_name(world.name, revision),
            model=world.name,
            selector=serving_selector(world.name, revision),
            revision=revision,
        ),
    )


def _ensure_service(draft: _Draft, wanted: EnsureService) -> None:
    observed = draft.world.services.get(wanted.name)
    if observed is None or dict(observed.selector) != dict(wanted.selector):
        draft.actions.append(wanted)


# --- 5. sweep -------------------------------------------------------------------------


def _sweep_what_no_revision_needs(draft: _Draft) -> None:
    status, world = draft.status, draft.world
    live: set[str] = set()
    if status.stable is not None:
        live.add(status.stable.revision)
    candidate = status.candidate
    if candidate is not None and candidate.state in (
        CandidateState.DEPLOYING,
        CandidateState.CANARY,
    ):
        live.add(candidate.revision)
    training = (
        candidate.revision if candidate and candidate.state is CandidateState.TRAINING else None
    )

    for revision, job in sorted(world.jobs.items()):
        if not job.finished and revision != training:
            draft.actions.append(DeleteJob(job.name, reason=f"{revision} is no longer a candidate"))
    for revision, deployment in sorted(world.deployments.items()):
        if revision not in live:
            draft.actions.append(
                DeleteDeployment(
                    deployment.name, reason=f"{revision} neither serves nor is a candidate"
                )
            )
    keep = {stable_service_name(world.name)} | {revision_service_name(world.name, r) for r in live}
    for service in sorted(world.services):
        if service not in keep:
            draft.actions.append(DeleteService(service, reason="no revision behind it"))


# --- 6. phase, conditions, schedule ---------------------------------------------------


def _schedule_next(draft: _Draft, spec: ModelDeploymentSpec) -> None:
    schedule, started = spec.training.schedule, draft.status.last_revision_started_at
    nxt = next_fire(schedule, started) if schedule and started else None
    draft.update(next_scheduled_at=nxt)


def _settle_phase_and_conditions(
    draft: _Draft, spec: ModelDeploymentSpec | InvalidSpec, *, old: ModelDeploymentStatus
) -> None:
    status = draft.status
    phase = derive_phase(status, draft.problem)
    check_transition(old.phase, phase)
    conditions = cond.conditions_for(
        status.model_copy(update={"phase": phase}),
        draft.world,
        problem=draft.problem,
        replicas=None if isinstance(spec, InvalidSpec) else spec.serving.replicas,
        previous=old.conditions,
        now=draft.now,
    )
    if draft.problem is not None:
        before = old.condition("Stalled")
        if before is None or before.reason != draft.problem.reason or before.status != "True":
            draft.event("Warning", draft.problem.reason, draft.problem.message)
    draft.update(
        phase=phase,
        conditions=conditions,
        observed_generation=draft.world.generation,
        message=cond.headline(conditions),
    )


def derive_phase(status: ModelDeploymentStatus, problem: cond.Problem | None) -> Phase:
    """The phase is a function of the candidate, the stable and a refused spec."""
    if problem is not None:
        return Phase.FAILED
    candidate = status.candidate
    if candidate is not None and candidate.state in CANDIDATE_PHASE:
        return CANDIDATE_PHASE[candidate.state]
    return Phase.SERVING if status.stable is not None else Phase.PENDING


def _requeue_after(draft: _Draft, spec: ModelDeploymentSpec | InvalidSpec) -> float | None:
    status = draft.status
    waits: list[float] = []
    if status.phase is Phase.TRAINING:
        waits.append(REQUEUE_IN_FLIGHT)
    if status.phase in (Phase.DEPLOYING, Phase.CANARY) or cond.stable_unready(
        status, draft.world, None if isinstance(spec, InvalidSpec) else spec.serving.replicas
    ):
        waits.append(REQUEUE_WAITING_FOR_PODS)
    if status.next_scheduled_at is not None:
        waits.append(max(1.0, (status.next_scheduled_at - draft.now).total_seconds()))
    return min(waits) if waits else None


def _with_history(
    status: ModelDeploymentStatus, candidate: CandidateStatus, outcome: CandidateState
) -> list[HistoryEntry]:
    entry = HistoryEntry(
        revision=candidate.revision,
        outcome=outcome,
        trigger=candidate.trigger,
        started_at=candidate.started_at,
        finished_at=candidate.finished_at,
        metric=candidate.metric,
        score=candidate.candidate_score,
        stable_score=candidate.stable_score,
        model_sha256=candidate.model_sha256,
        message=candidate.message,
    )
    rest = [h for h in status.history if h.revision != candidate.revision]
    return [entry, *rest][:HISTORY_LIMIT]


__all__ = ["Event", "InvalidSpec", "Plan", "Trigger", "derive_phase", "plan"]
