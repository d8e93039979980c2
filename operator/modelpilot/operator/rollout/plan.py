"""plan(): from (spec, status, world, now) to the actions, the new status and the Events.

One tick, read top to bottom:

1. an invalid spec changes nothing but the conditions (the stable model keeps serving);
2. a trigger (new spec, retrain request, schedule) supersedes what is in flight and starts
   revision N+1 — unless the operator refuses the spec (estimator not allowed, no store);
   with spec.serving.pinRevision set, the pin takes this place instead: the pinned revision
   from history becomes the candidate at Deploying, and nothing trains
   (modelpilot.operator.rollout.pin);
3. the candidate advances one step: Job absent -> create it; Job done -> gate;
   passed -> its Deployment (or, beside a stable with spec.rollout.steps, a canary);
   Deployment Ready -> it becomes stable; a canary runs its steps one per tick, its analysis
   windows judged as they arrive, until it is promoted or rolled back (the canary's steps are
   in modelpilot.operator.rollout.canary_steps);
4. the stable Deployment and Services are kept as the spec says;
5. objects of no current revision are swept away;
6. the phase and the conditions are derived from the resulting status (rollout.settle); a
   monitoring window read this tick (spec.monitoring) is judged first and sets Drifted
   (modelpilot.operator.rollout.drift) and, from the labels fed back, Degraded
   (modelpilot.operator.rollout.performance); with retrainOn either may be the trigger of
   step 2.

The status is written before the actions run (modelpilot.operator.reconcile), so the
revision counter of a Job is persisted before the Job exists: a restart at any point finds
the same names and creates nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from modelpilot.api import names
from modelpilot.api.gate import judge
from modelpilot.api.reasons import ConditionReason, EventReason
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import (
    CandidateState,
    CandidateStatus,
    FailureReason,
    ModelDeploymentStatus,
    Phase,
    Trigger,
)
from modelpilot.api.summary import EXIT_PRETRAINED_REFUSED
from modelpilot.operator.rollout import canary as canary_math
from modelpilot.operator.rollout import conditions as cond
from modelpilot.operator.rollout import policy
from modelpilot.operator.rollout.actions import (
    Action,
    CreateTrainingJob,
    DeleteDeployment,
    DeleteJob,
    DeleteService,
    EnsureService,
)
from modelpilot.operator.rollout.canary_steps import (
    REQUEUE_NEXT_STEP,
    advance_canary,
    start_canary,
    take_promote_and_abort_requests,
)
from modelpilot.operator.rollout.data_watch import seconds_until_probe, watch_data
from modelpilot.operator.rollout.draft import Draft, Event
from modelpilot.operator.rollout.drift import (
    judge_drift,
    seconds_until_drift_window,
    took_drift_revision,
)
from modelpilot.operator.rollout.naming import (
    deployment_name,
    job_name,
    revision_service_name,
    serving_selector,
    stable_service_name,
)
from modelpilot.operator.rollout.performance import judge_performance
from modelpilot.operator.rollout.pin import follow_pin, pinned_revision
from modelpilot.operator.rollout.serving_objects import (
    conclude_if_deployment_failed,
    dataset_claim_name,
    ensure_revision_serving,
    ensure_service,
    has_store,
    store_claim,
)
from modelpilot.operator.rollout.settle import derive_phase, settle_phase_and_conditions
from modelpilot.operator.rollout.traffic import TrafficStrategy, traffic_strategy
from modelpilot.operator.rollout.triggers import (
    estimator_refusal,
    next_fire,
    revision_trigger,
    spec_hash,
    training_document,
)
from modelpilot.operator.rollout.world import World

# A claim refused because it is missing or unlabelled may be fixed without touching the
# ModelDeployment (nothing wakes us then), so look again this soon.
REQUEUE_POLICY_MAY_CLEAR = 10.0
# How soon to look again when nothing else wakes us. Owned Jobs, Pods and Deployments wake
# the operator through watch events, so these are only the safety net.
REQUEUE_IN_FLIGHT = 30.0
REQUEUE_WAITING_FOR_PODS = 10.0


@dataclass(frozen=True)
class InvalidSpec:
    """The spec could not be parsed (the CRD's validation was bypassed or is older)."""

    message: str


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    status: ModelDeploymentStatus
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None  # seconds; None: wait for a watch event


def plan(
    spec: ModelDeploymentSpec | InvalidSpec,
    status: ModelDeploymentStatus,
    world: World,
    now: datetime,
) -> Plan:
    now = now.astimezone(UTC).replace(microsecond=0)
    draft = Draft(world=world, now=now, status=status)
    if isinstance(spec, InvalidSpec):
        draft.problem = cond.Problem(ConditionReason.INVALID_SPEC, spec.message)
    else:
        if canary_math.rollout_deferred(spec, status) and world.generation != (
            status.observed_generation or 0
        ):
            draft.event(
                "Normal",
                EventReason.ROLLOUT_CHANGE_DEFERRED,
                f"spec.rollout's router or steps changed during the canary of "
                f"{status.canary.revision if status.canary else '?'}: it finishes with the "
                "ones it started with; the change applies to the next revision",
            )
        spec = canary_math.spec_with_started_rollout(spec, status)
        traffic = traffic_strategy(spec)  # the one choice of router this tick
        draft.problem = _policy_problem(draft, spec)
        if draft.problem is None:
            drifted = judge_drift(draft, spec)
            degraded = judge_performance(draft, spec)
            pin = pinned_revision(spec)
            quiet = pin is None and not status.phase.in_flight and status.stable is not None
            data_changed = watch_data(draft, spec, may_probe=quiet)
            if pin is not None:
                follow_pin(draft, spec, pin)  # nothing trains while a pin is set
            else:
                wanted = Trigger.DATA_CHANGED if data_changed else None
                wanted = wanted or (Trigger.DRIFTED if drifted else None)
                wanted = wanted or (Trigger.DEGRADED if degraded else None)
                _start_revision_when_triggered(draft, spec, wanted=wanted)
            take_promote_and_abort_requests(draft)
            _advance_candidate(draft, spec, traffic)
            _keep_stable_serving(draft, spec, traffic)
        # else: a value the platform refuses changes nothing that serves; no revision
        # starts, the candidate holds, and stable keeps the Deployment it has.
        _sweep_what_no_revision_needs(draft, traffic)
        _schedule_next(draft, spec)
    replicas = None if isinstance(spec, InvalidSpec) else spec.serving.replicas
    monitored = isinstance(spec, InvalidSpec) or spec.monitoring is not None
    by_labels = isinstance(spec, InvalidSpec) or (
        spec.monitoring is not None and spec.monitoring.performance is not None
    )
    settle_phase_and_conditions(
        draft, replicas=replicas, old=status, monitored=monitored, judged_by_labels=by_labels
    )
    return Plan(
        actions=tuple(draft.actions),
        status=draft.status,
        events=tuple(draft.events),
        requeue_after=_requeue_after(draft, spec),
    )


# --- 1b. platform policy ---------------------------------------------------------------


def _policy_problem(draft: Draft, spec: ModelDeploymentSpec) -> cond.Problem | None:
    world = draft.world
    if world.policy is None:
        return None
    claim = store_claim(spec, world)
    labels = world.store_claim_labels
    if claim is not None and claim == world.verified_store_claim and labels is None:
        labels = {names.LABEL_MODEL_STORE: "true"}  # found labelled before; not read again
    dataset = spec.training.dataset.pvc
    data_claim = None if dataset is None else dataset.claim_name
    data_labels = world.dataset_claim_labels
    if (
        data_claim is not None
        and data_claim == world.verified_dataset_claim
        and data_labels is None
    ):
        data_labels = {names.LABEL_DATASET: "true"}  # found labelled before; not read again
    refused = policy.refusal(
        spec,
        world.policy,
        claim=claim,
        claim_labels=labels,
        dataset_claim_labels=data_labels,
    )
    if refused is not None:
        return cond.Problem(refused.reason, refused.message)
    if claim is not None and policy.store_needs_label(world.policy, claim):
        draft.update(verified_store_claim=claim)
    if data_claim is not None and policy.dataset_claim_needs_label(world.policy, data_claim):
        draft.update(verified_dataset_claim=data_claim)
    return None


# --- 2. triggers ----------------------------------------------------------------------


def _start_revision_when_triggered(
    draft: Draft, spec: ModelDeploymentSpec, *, wanted: Trigger | None = None
) -> None:
    status, world = draft.status, draft.world
    trigger = revision_trigger(spec, status, annotations=world.annotations, now=draft.now)
    if trigger is None and wanted is not None and not status.phase.in_flight:
        # The data changed (watch_data) or the inputs drifted past the cooldown (judge_drift).
        trigger = wanted
    if trigger is None:
        return
    if status.phase.in_flight and status.candidate is not None:
        # A newer spec wins: the stale candidate is stopped (the sweep deletes its Job or
        # Deployment) and the new revision starts from a clean slate.
        old = status.candidate
        draft.conclude(CandidateState.SUPERSEDED, f"superseded by a new revision ({trigger})")
        draft.event(
            "Normal",
            EventReason.SUPERSEDED,
            f"{old.revision} stopped: a new revision starts ({trigger})",
        )
    refusal = estimator_refusal(spec, world.estimator_allowlist)
    if refusal is not None:
        draft.problem = cond.Problem(ConditionReason.ESTIMATOR_NOT_ALLOWED, refusal)
        return
    if not has_store(spec, world):
        draft.problem = cond.Problem(
            ConditionReason.NO_MODEL_STORE,
            "spec.modelStore.pvc.claimName is not set and the operator has no default store "
            "(MODELPILOT_DEFAULT_STORE_PVC): name a PersistentVolumeClaim (modelStore.pvc) "
            "or an S3 bucket (modelStore.s3)",
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
        estimator=spec.training.estimator,
        params=dict(spec.training.params),
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
        "Normal",
        EventReason.REVISION_STARTED,
        f"{revision} started ({trigger}): training Job {candidate.job}",
    )
    if trigger in (Trigger.DRIFTED, Trigger.DEGRADED):
        took_drift_revision(draft)


# --- 3. the candidate -----------------------------------------------------------------


def _advance_candidate(draft: Draft, spec: ModelDeploymentSpec, traffic: TrafficStrategy) -> None:
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
        advance_canary(draft, spec, candidate, traffic)


def _advance_training(draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus) -> None:
    world, stable = draft.world, draft.status.stable
    job = world.jobs.get(candidate.revision)
    if job is None:
        claim = store_claim(spec, world)
        assert has_store(spec, world)  # checked when the revision started
        resources = spec.training.resources
        same_stable = stable is not None and stable.revision == candidate.stable_revision
        pretrained = spec.training.pretrained
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
                resources=None if resources is None else resources.as_pod_resources(),
                stable_revision=stable.revision if same_stable and stable else None,
                stable_sha256=stable.model_sha256 if same_stable and stable else None,
                spec_hash=candidate.spec_hash,
                keep_revisions=revisions_status_names(draft.status),
                dataset_uri=spec.training.dataset.uri,
                dataset_claim=dataset_claim_name(spec),
                pretrained_uri=None if pretrained is None else pretrained.uri,
                store_s3=spec.store_s3,
                dataset_s3=spec.dataset_s3,
                pod=spec.training.pod,
                include_feedback=spec.training.dataset.includes_feedback,
            )
        )
        return
    if not job.finished:
        return  # running or pending; conditions report job.pod_problem

    summary = job.summary
    if job.failed or summary is None or not summary.ok:
        reason = FailureReason.TRAINING_FAILED
        if job.failure_reason == "DeadlineExceeded":
            reason = FailureReason.TRAINING_TIMED_OUT
        elif summary is not None and summary.exit_code == EXIT_PRETRAINED_REFUSED:
            reason = FailureReason.PRETRAINED_REFUSED
        detail = (
            (summary.error if summary is not None and summary.error else None)
            or job.summary_problem
            or job.failure_message
            or "the trainer reported no summary"
        )
        draft.conclude(CandidateState.FAILED, detail, reason=reason)
        draft.event("Warning", reason, f"{candidate.revision}: {detail}")
        return

    if summary.candidate_score is None or summary.model_sha256 is None:
        message = "the trainer's summary has no score or model digest"
        draft.conclude(CandidateState.FAILED, message, reason=FailureReason.TRAINING_FAILED)
        draft.event("Warning", FailureReason.TRAINING_FAILED, f"{candidate.revision}: {message}")
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
        training_data_sha256=summary.training_data_sha256,
        verdict=gate.verdict,
        message=gate.message,
    )
    if not gate.passed:
        draft.conclude(CandidateState.REJECTED, gate.message)
        draft.event("Warning", EventReason.GATE_REJECTED, f"{candidate.revision}: {gate.message}")
        return
    draft.update_candidate(
        state=CandidateState.DEPLOYING,
        deployment=deployment_name(world.name, candidate.revision),
    )
    draft.event("Normal", EventReason.GATE_PASSED, f"{candidate.revision}: {gate.message}")


def revisions_status_names(status: ModelDeploymentStatus) -> tuple[str, ...]:
    """Every revision the status names: their bundles are never garbage-collected (a
    rollback or a pin to an earlier revision needs its bundle)."""
    named = {entry.revision for entry in status.history}
    for part in (status.stable, status.candidate, status.canary):
        if part is not None:
            named.add(part.revision)
    if status.candidate is not None and status.candidate.stable_revision:
        named.add(status.candidate.stable_revision)
    return tuple(sorted(named, key=names.revision_number))


def _advance_deploying(draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus) -> None:
    world = draft.world
    assert candidate.model_sha256 is not None
    stable = draft.status.stable
    if stable is not None and spec.rollout.steps and stable.revision != candidate.revision:
        start_canary(draft, spec, candidate)
        return
    replicas = spec.serving.replicas
    ensure_revision_serving(draft, spec, candidate.revision, candidate.model_sha256, replicas)
    if conclude_if_deployment_failed(draft, candidate) is not None:
        return
    deployment = world.deployments.get(candidate.revision)
    if deployment is None or not deployment.ready_for(replicas):
        return
    # Ready, and no canary wanted (first revision, or no steps): it replaces stable at once.
    draft.promote(candidate)


# --- 4. stable ------------------------------------------------------------------------


def _keep_stable_serving(draft: Draft, spec: ModelDeploymentSpec, traffic: TrafficStrategy) -> None:
    stable = draft.status.stable
    if stable is None:
        return
    ensure_revision_serving(
        draft, spec, stable.revision, stable.model_sha256, spec.serving.replicas
    )
    # Service NAME selects the stable pods, or what the traffic strategy says while a
    # canary is live (replicas: both versions).
    revision = traffic.stable_selector_revision(
        stable.revision, canary_live=canary_math.canary_is_live(draft.status)
    )
    ensure_service(
        draft,
        EnsureService(
            name=stable.service,
            model=draft.world.name,
            selector=serving_selector(draft.world.name, revision),
        ),
    )


# --- 5. sweep -------------------------------------------------------------------------


def _sweep_what_no_revision_needs(draft: Draft, traffic: TrafficStrategy) -> None:
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
    # Finished Jobs beyond the newest few go. Only a revision that is no longer training:
    # its summary has been read into status (this very tick at the latest, and status is
    # written before the actions run), and a candidate past Training never looks for its Job
    # again, so a deleted Job is never created a second time.
    finished = sorted(
        (r for r, j in world.jobs.items() if j.finished and r != training),
        key=names.revision_number,
    )
    kept = world.finished_jobs_kept
    for revision in finished[: max(0, len(finished) - kept)]:
        draft.actions.append(
            DeleteJob(
                world.jobs[revision].name,
                reason=f"{revision} finished; keeping the newest {kept} finished Jobs",
            )
        )
    for revision, deployment in sorted(world.deployments.items()):
        if revision not in live:
            if status.stable is not None:
                # The route first: it must never send to a Service that is about to go.
                draft.actions.extend(traffic.finalize(stable=status.stable.revision, gone=revision))
            draft.actions.append(
                DeleteDeployment(
                    deployment.name, reason=f"{revision} neither serves nor is a candidate"
                )
            )
    keep = {stable_service_name(world.name)} | {revision_service_name(world.name, r) for r in live}
    for service in sorted(world.services):
        if service not in keep:
            draft.actions.append(DeleteService(service, reason="no revision behind it"))


# --- 6. schedule; the phase and conditions: modelpilot.operator.rollout.settle ---------


def _schedule_next(draft: Draft, spec: ModelDeploymentSpec) -> None:
    schedule, started = spec.training.schedule, draft.status.last_revision_started_at
    nxt = next_fire(schedule, started) if schedule and started else None
    draft.update(next_scheduled_at=nxt)


def _requeue_after(draft: Draft, spec: ModelDeploymentSpec | InvalidSpec) -> float | None:
    status = draft.status
    waits: list[float] = []
    if status.phase is Phase.TRAINING:
        waits.append(REQUEUE_IN_FLIGHT)
    if status.phase in (Phase.DEPLOYING, Phase.CANARY) or cond.stable_unready(
        status, draft.world, None if isinstance(spec, InvalidSpec) else spec.serving.replicas
    ):
        waits.append(REQUEUE_WAITING_FOR_PODS)
    if draft.problem is not None and draft.problem.reason in policy.TRANSIENT:
        waits.append(REQUEUE_POLICY_MAY_CLEAR)
    if status.next_scheduled_at is not None:
        waits.append(max(1.0, (status.next_scheduled_at - draft.now).total_seconds()))
    if status.phase is Phase.CANARY:
        waits += [max(REQUEUE_NEXT_STEP, w) for w in draft.waits]
    if not isinstance(spec, InvalidSpec):
        window = seconds_until_drift_window(spec, status, draft.now)
        if window is not None:
            waits.append(max(REQUEUE_NEXT_STEP, window))
        probe = seconds_until_probe(spec, status, draft)
        if probe is not None:
            waits.append(max(REQUEUE_NEXT_STEP, probe))
        if status.data_watch is not None and status.data_watch.probe_job is not None:
            waits.append(REQUEUE_WAITING_FOR_PODS)
    return min(waits) if waits else None


__all__ = ["Event", "InvalidSpec", "Plan", "Trigger", "derive_phase", "plan"]
