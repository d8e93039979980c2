"""plan(): from (spec, status, world, now) to the actions, the new status and the Events.

One tick, read top to bottom:

1. an invalid spec changes nothing but the conditions (the stable model keeps serving);
2. a trigger (new spec, retrain request, schedule) supersedes what is in flight and starts
   revision N+1 — unless the operator refuses the spec (estimator not allowed, no store);
3. the candidate advances one step: Job absent -> create it; Job done -> gate;
   passed -> its Deployment (or, beside a stable with spec.rollout.steps, a canary);
   Deployment Ready -> it becomes stable; a canary runs its steps one per tick, its analysis
   windows judged as they arrive, until it is promoted or rolled back;
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
from datetime import UTC, datetime, timedelta
from typing import Literal

from modelpilot.api import names
from modelpilot.api.gate import judge
from modelpilot.api.spec import ModelDeploymentSpec, Step
from modelpilot.api.status import (
    ANALYSIS_WINDOWS_LIMIT,
    HISTORY_LIMIT,
    AnalysisWindow,
    CanaryStatus,
    CandidateState,
    CandidateStatus,
    Condition,
    ConditionType,
    HistoryEntry,
    ModelDeploymentStatus,
    Phase,
    StableStatus,
    Trigger,
)
from modelpilot.operator.analysis.verdict import (
    Limits,
    Measurements,
    Verdict,
    VerdictKind,
    evaluate,
)
from modelpilot.operator.rollout import canary as canary_math
from modelpilot.operator.rollout import conditions as cond
from modelpilot.operator.rollout.actions import (
    Action,
    CreateTrainingJob,
    DeleteDeployment,
    DeleteJob,
    DeleteService,
    EnsureService,
    EnsureServingDeployment,
    FinalizeRoutes,
    ScaleDeployment,
    SetWeights,
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
from modelpilot.operator.routers.weights import Weights

# How soon to look again when nothing else wakes us. Owned Jobs, Pods and Deployments wake
# the operator through watch events, so these are only the safety net.
REQUEUE_IN_FLIGHT = 30.0
REQUEUE_WAITING_FOR_PODS = 10.0
# A canary step that just finished: the next one is looked at after this (one step per tick).
REQUEUE_NEXT_STEP = 1.0
# The route could not be read (missing HTTPRoute, ...): look again after this.
REQUEUE_ROUTE_PROBLEM = 5.0

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
    # The CanaryHealthy condition as this tick judged it (status, reason, message); None
    # leaves the previous one as it was.
    canary_health: tuple[Literal["True", "False", "Unknown"], str, str] | None = None
    # New values of the promote/abort annotations, not yet acted on; None when there is none.
    promote_request: str | None = None
    abort_request: str | None = None
    # Seconds until something time-based is due (pause end, analysis window, next step).
    waits: list[float] = field(default_factory=list)

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
        _take_promote_and_abort_requests(draft)
        _advance_candidate(draft, spec)
        _keep_stable_serving(draft, spec)
        _sweep_what_no_revision_needs(draft, spec)
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
    candidate = draft.status.candidate
    if candidate is not None and candidate.state is CandidateState.CANARY:
        _advance_canary(draft, spec, candidate)


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
    stable = draft.status.stable
    if stable is not None and spec.rollout.steps and stable.revision != candidate.revision:
        _start_canary(draft, spec, candidate)
        return
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
    # Ready, and no canary wanted (first revision, or no steps): it replaces stable at once.
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


# --- 3b. the canary -------------------------------------------------------------------


def _take_promote_and_abort_requests(draft: _Draft) -> None:
    """A new value of the promote/abort annotation is a request, taken once.

    Taken (remembered in status) whether or not a canary runs, so a request made while
    nothing could act on it does not fire at some later canary by surprise.
    """
    annotations, status = draft.world.annotations, draft.status
    promote = annotations.get(names.ANNOTATION_PROMOTE)
    if promote and promote != status.last_promote_request:
        draft.promote_request = promote
        draft.update(last_promote_request=promote)
    abort = annotations.get(names.ANNOTATION_ABORT)
    if abort and abort != status.last_abort_request:
        draft.abort_request = abort
        draft.update(last_abort_request=abort)


def _start_canary(draft: _Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus) -> None:
    stable = draft.status.stable
    assert stable is not None
    candidate = draft.update_candidate(state=CandidateState.CANARY)
    draft.update(
        canary=CanaryStatus(
            revision=candidate.revision,
            step_index=0,
            step_started_at=draft.now,
            step=canary_math.describe_step(spec.rollout.steps, 0),
            weight=0,
            actual_weight=0,
            message="waiting for the canary's pods",
        )
    )
    draft.canary_health = (
        "Unknown",
        "AnalysisPending",
        f"{candidate.revision}: no analysis window yet",
    )
    router = spec.rollout.traffic_router.kind
    draft.event(
        "Normal",
        "CanaryStarted",
        f"{candidate.revision} starts as a canary beside {stable.revision} "
        f"({len(spec.rollout.steps)} steps, {router} router)",
    )


def _advance_canary(draft: _Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus) -> None:
    """At most one step per tick; every branch is safe to repeat after a restart."""
    status, world = draft.status, draft.world
    stable, canary = status.stable, status.canary
    assert candidate.model_sha256 is not None
    if stable is None:
        return  # unreachable: only a promotion replaces stable, and it ends the canary
    if canary is None or canary.revision != candidate.revision:
        # No progress recorded for this revision (status restored from a backup): start over.
        _start_canary(draft, spec, candidate)
        canary = draft.status.canary
        assert canary is not None
    steps = spec.rollout.steps

    if draft.abort_request is not None:
        _abort(draft, candidate, "Aborted", "aborted by `modelpilot abort`")
        return
    deployment = world.deployments.get(candidate.revision)
    if deployment is not None and deployment.progress_failure:
        detail = deployment.pod_problem or deployment.progress_failure
        message = f"DeploymentFailed: pods of {deployment.name} did not become Ready: {detail}"
        draft.conclude(CandidateState.FAILED, message)
        draft.update(canary=canary.model_copy(update={"weight": 0, "actual_weight": 0}))
        draft.canary_health = ("False", "DeploymentFailed", f"{candidate.revision}: {detail}")
        draft.event("Warning", "DeploymentFailed", f"{candidate.revision}: {message}")
        return
    if _judge_analysis_window(draft, spec, candidate):
        return  # the analysis aborted the canary
    canary = draft.status.canary
    assert canary is not None

    promoted_by_hand = draft.promote_request is not None
    if promoted_by_hand:
        full = draft.world.annotations.get(names.ANNOTATION_PROMOTE_FULL) == "true"
        index = len(steps) if full else min(canary.step_index + 1, len(steps))
        what = "fully" if full else f"past step {canary.step_index + 1}"
        draft.event("Normal", "PromoteRequested", f"{candidate.revision} promoted {what} by hand")
        canary = _at_step(draft, spec, canary, index)
        draft.waits.append(REQUEUE_NEXT_STEP)

    index = canary.step_index
    step: Step | None = steps[index] if index < len(steps) else None
    target_weight = 100 if step is None else step.set_weight
    # Scale ahead for a setWeight step: its pods must be Ready before the weight moves.
    pods = canary_math.canary_replicas(spec, target_weight or canary.weight)
    _ensure_revision_serving(draft, spec, candidate.revision, candidate.model_sha256, pods)
    ready = deployment is not None and deployment.ready_for(pods)

    mesh = not canary_math.uses_replicas(spec)
    if mesh and world.route_problem is not None:
        draft.update(canary=canary.model_copy(update={"message": world.route_problem}))
        draft.waits.append(REQUEUE_ROUTE_PROBLEM)
        return
    if mesh:
        _keep_route_at(draft, spec, canary.weight)

    if promoted_by_hand and step is not None:
        pass  # the promote was this tick's step; the next one runs next tick
    elif canary.paused and not (step is not None and step.pause is not None):
        pass  # paused by the analysis (onInconclusive: Pause): only a person moves it on
    elif step is None:
        _finish_promotion(draft, spec, candidate, canary, ready=ready)
    elif step.set_weight is not None:
        if not ready:
            _note(draft, canary, f"waiting for {pods} Ready canary pods before {target_weight}%")
        else:
            moved = canary.model_copy(update={"weight": step.set_weight})
            draft.update(canary=moved)
            if mesh:
                _keep_route_at(draft, spec, step.set_weight)
            draft.event(
                "Normal", "WeightChanged", f"{candidate.revision} canary weight {step.set_weight}%"
            )
            _at_step(draft, spec, moved, index + 1)
            draft.waits.append(REQUEUE_NEXT_STEP)
    else:
        assert step.pause is not None
        _advance_pause(draft, spec, canary, step)
    _record_actual_weight(draft, spec)
    wait = canary_math.seconds_until_window(spec, draft.status, draft.now)
    if wait is not None:
        draft.waits.append(max(wait, REQUEUE_NEXT_STEP))


def _advance_pause(
    draft: _Draft, spec: ModelDeploymentSpec, canary: CanaryStatus, step: Step
) -> None:
    assert step.pause is not None
    seconds = step.pause.seconds
    if seconds is None or canary.paused:
        why = (
            "paused until `modelpilot promote` (or `modelpilot abort`)"
            if seconds is None
            else canary.message or "paused"
        )
        draft.update(canary=canary.model_copy(update={"paused": True, "message": why}))
        return
    started = canary.step_started_at or draft.now
    left = seconds - (draft.now - started).total_seconds()
    if left > 0:
        # The end time, not the seconds left: the message (and status) stays the same all
        # pause long instead of being rewritten every tick.
        until = (started + timedelta(seconds=seconds)).strftime("%H:%M:%SZ")
        _note(draft, canary, f"pausing until {until}")
        draft.waits.append(left)
        return
    passed = _passed_since(canary, started)
    if canary.weight > 0 and not passed:
        _note(draft, canary, "pause over; holding for a passed analysis window")
        return
    _at_step(draft, spec, canary, canary.step_index + 1)
    draft.waits.append(REQUEUE_NEXT_STEP)


def _passed_since(canary: CanaryStatus, since: datetime) -> bool:
    """The newest analysis window passed, and it ended after `since`."""
    windows = canary.analysis.windows
    if not windows:
        return False
    newest = windows[0]
    ended = newest.ended_at or newest.started_at
    return newest.verdict == VerdictKind.PASS.value and ended >= since


def _at_step(
    draft: _Draft, spec: ModelDeploymentSpec, canary: CanaryStatus, index: int
) -> CanaryStatus:
    moved = canary.model_copy(
        update={
            "step_index": index,
            "step_started_at": draft.now,
            "step": canary_math.describe_step(spec.rollout.steps, index),
            "paused": False,
            "message": None,
        }
    )
    draft.update(canary=moved)
    return moved


def _note(draft: _Draft, canary: CanaryStatus, message: str) -> None:
    """What the canary waits for (status.canary.message); only rewritten when it changes."""
    current = draft.status.canary or canary
    if current.message != message:
        draft.update(canary=current.model_copy(update={"message": message}))


def _keep_route_at(draft: _Draft, spec: ModelDeploymentSpec, weight: int) -> None:
    """Mesh routers: SetWeights whenever the route does not carry the status' weight."""
    stable, candidate = draft.status.stable, draft.status.candidate
    assert stable is not None and candidate is not None
    wanted = Weights.canary_at(weight)
    observed = draft.world.route_weights
    if observed is None:
        # Not read this tick (the canary started in it): look first, write after.
        draft.waits.append(REQUEUE_NEXT_STEP)
        return
    if observed == wanted:
        return
    if any(isinstance(a, SetWeights) for a in draft.actions):
        draft.actions[:] = [a for a in draft.actions if not isinstance(a, SetWeights)]
    draft.actions.append(
        SetWeights(
            stable=wanted.stable,
            canary=wanted.canary,
            route=canary_math.route(spec, stable=stable.revision, canary=candidate.revision),
        )
    )


def _record_actual_weight(draft: _Draft, spec: ModelDeploymentSpec) -> None:
    status, world = draft.status, draft.world
    canary, stable = status.canary, status.stable
    if canary is None or stable is None or status.candidate is None:
        return
    if canary_math.uses_replicas(spec):
        s = world.deployments.get(stable.revision)
        c = world.deployments.get(canary.revision)
        stable_pods = 0 if s is None else s.ready_replicas
        canary_pods = 0 if c is None else c.ready_replicas
        update = {
            "stable_replicas": stable_pods,
            "canary_replicas": canary_pods,
            "actual_weight": canary_math.actual_weight(stable_pods, canary_pods),
        }
    else:
        observed = world.route_weights
        update = {"actual_weight": canary.weight if observed is None else observed.canary}
    draft.update(canary=canary.model_copy(update=update))


def _finish_promotion(
    draft: _Draft,
    spec: ModelDeploymentSpec,
    candidate: CandidateStatus,
    canary: CanaryStatus,
    *,
    ready: bool,
) -> None:
    """All steps passed (or a promote): all pods Ready at 100 %, then it becomes stable.

    replicas router: the canary runs all `replicas` pods beside stable's, so the Service
    splits half/half until the promotion, when Service NAME selects only the new version and
    the old Deployment is removed. Mesh routers: the route carries 100 % to the canary first;
    the old backend and Deployment go once it does.
    """
    if not ready:  # as for any weight: the pods first
        _note(draft, canary, f"promoting: waiting for {spec.serving.replicas} Ready canary pods")
        return
    if canary.weight != 100:
        canary = canary.model_copy(update={"weight": 100})
        draft.update(canary=canary)
        if not canary_math.uses_replicas(spec):
            _keep_route_at(draft, spec, 100)
    if not canary_math.uses_replicas(spec) and draft.world.route_weights != Weights.CANARY_ONLY:
        _note(draft, canary, "promoting: waiting for the route to carry 100% to the canary")
        draft.waits.append(REQUEUE_NEXT_STEP)
        return
    windows = len(canary.analysis.windows)
    passed = sum(1 for w in canary.analysis.windows if w.verdict == VerdictKind.PASS.value)
    draft.canary_health = (
        "True",
        "Promoted",
        f"{candidate.revision} promoted ({passed} of the last {windows} analysis windows passed)",
    )
    _promote(draft, candidate)


def _judge_analysis_window(
    draft: _Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus
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
        draft.update(canary=canary.model_copy(update={"analysis": updated}))
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
    canary = canary.model_copy(update={"analysis": updated})
    draft.update(canary=canary)
    rev = candidate.revision
    if verdict.kind is VerdictKind.PASS:
        draft.canary_health = ("True", "AnalysisPassed", f"{rev}: {verdict.message}")
        return False
    if verdict.kind is VerdictKind.FAIL:
        counted = f"analysis failed {failures}/{analysis.failure_limit}: {verdict.message}"
        if failures >= analysis.failure_limit:
            _abort(draft, candidate, "AnalysisFailed", counted)
            return True
        draft.canary_health = ("False", "AnalysisFailed", f"{rev}: {counted}")
        draft.event("Warning", "AnalysisFailed", f"{rev}: {counted}")
        return False
    counted = (
        f"analysis inconclusive {inconclusive}/{analysis.inconclusive_limit}: {verdict.message}"
    )
    if inconclusive < analysis.inconclusive_limit:
        draft.canary_health = ("Unknown", "AnalysisInconclusive", f"{rev}: {counted}")
        return False
    if analysis.on_inconclusive == "Abort":
        _abort(draft, candidate, "AnalysisInconclusive", counted)
        return True
    message = f"{counted}; paused until `modelpilot promote` or `modelpilot abort`"
    draft.canary_health = ("Unknown", "AnalysisInconclusive", f"{rev}: {message}")
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


def _abort(draft: _Draft, candidate: CandidateStatus, reason: str, message: str) -> None:
    """Weight back to stable at once; the sweep finalizes the route and removes the canary."""
    canary = draft.status.canary
    assert canary is not None
    draft.update(
        canary=canary.model_copy(
            update={
                "weight": 0,
                "actual_weight": 0,
                "canary_replicas": 0,
                "paused": False,
                "message": f"rolled back: {message}",
            }
        )
    )
    # candidate.message keeps the gate's words (the Evaluated condition shows them); the
    # rollback's reason goes to history, status.canary and CanaryHealthy.
    rolled_back = draft.update_candidate(state=CandidateState.ROLLED_BACK, finished_at=draft.now)
    outcome = rolled_back.model_copy(update={"message": f"{reason}: {message}"})
    draft.update(history=_with_history(draft.status, outcome, CandidateState.ROLLED_BACK))
    draft.canary_health = ("False", reason, f"{candidate.revision} rolled back: {message}")
    stable = draft.status.stable
    serving = "" if stable is None else f"; {stable.revision} serves all traffic"
    draft.event("Warning", "RolledBack", f"{candidate.revision} rolled back: {message}{serving}")


# --- 4. stable ------------------------------------------------------------------------


def _keep_stable_serving(draft: _Draft, spec: ModelDeploymentSpec) -> None:
    stable = draft.status.stable
    if stable is None:
        return
    _ensure_revision_serving(
        draft, spec, stable.revision, stable.model_sha256, spec.serving.replicas
    )
    # Service NAME selects the stable pods; while a canary runs with the replicas router it
    # selects both versions (no revision in the selector), so the replica counts split the
    # traffic. Promotion and abort point it back at one revision in the same tick.
    both = canary_math.uses_replicas(spec) and canary_math.canary_is_live(draft.status)
    _ensure_service(
        draft,
        EnsureService(
            name=stable.service,
            model=draft.world.name,
            selector=serving_selector(draft.world.name, None if both else stable.revision),
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


def _sweep_what_no_revision_needs(draft: _Draft, spec: ModelDeploymentSpec) -> None:
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
            if status.stable is not None and not canary_math.uses_replicas(spec):
                # The route first: it must never send to a Service that is about to go. (With
                # the replicas router, deleting the Deployment is what takes its pods out of
                # Service NAME.)
                draft.actions.append(_finalize_without(spec, status.stable.revision, revision))
            draft.actions.append(
                DeleteDeployment(
                    deployment.name, reason=f"{revision} neither serves nor is a candidate"
                )
            )
    keep = {stable_service_name(world.name)} | {revision_service_name(world.name, r) for r in live}
    for service in sorted(world.services):
        if service not in keep:
            draft.actions.append(DeleteService(service, reason="no revision behind it"))


def _finalize_without(spec: ModelDeploymentSpec, stable: str, gone: str) -> FinalizeRoutes:
    """The route keeps only `stable`: after a promotion `gone` is the old stable (promoted),
    otherwise an aborted or superseded canary."""
    if names.revision_number(gone) < names.revision_number(stable):
        route = canary_math.route(spec, stable=gone, canary=stable)
        return FinalizeRoutes(route, promoted=True, reason=f"{stable} was promoted over {gone}")
    route = canary_math.route(spec, stable=stable, canary=gone)
    return FinalizeRoutes(route, promoted=False, reason=f"{gone} no longer serves beside {stable}")


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
    if draft.canary_health is not None:
        conditions = _with_canary_health(conditions, draft.canary_health, draft)
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


def _with_canary_health(
    conditions: list[Condition],
    health: tuple[Literal["True", "False", "Unknown"], str, str],
    draft: _Draft,
) -> list[Condition]:
    value, reason, message = health
    old = next((c for c in conditions if c.type == ConditionType.CANARY_HEALTHY), None)
    since = old.last_transition_time if old is not None and old.status == value else draft.now
    healthy = Condition(
        type=ConditionType.CANARY_HEALTHY,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=draft.world.generation,
    )
    return [c for c in conditions if c.type != ConditionType.CANARY_HEALTHY] + [healthy]


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
    if status.phase is Phase.CANARY:
        waits += [max(REQUEUE_NEXT_STEP, w) for w in draft.waits]
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
