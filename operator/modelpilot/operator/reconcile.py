"""One tick for one ModelDeployment: read, observe, plan, write status, apply, post Events.

The status is written *before* the actions run, with the resourceVersion that was read:
a revision number is therefore persisted before its Job exists, and a concurrent change
(a new spec, another writer) makes the write fail with Conflict instead of acting on a
stale picture. Called from the work queue in a thread; no kopf here, so tests drive it
against the in-memory cluster.

An action that meets a PermanentError (an object of our name that someone else owns, a route
the apiserver refuses) stops the tick: Stalled=True with its reason is written at once and
carried into the next ticks' worlds until the plan converges, so it is neither retried in a
hot loop nor flipped back to False by the next tick.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from modelpilot.api import names
from modelpilot.api.reasons import ConditionReason
from modelpilot.api.spec import ModelDeploymentSpec, parse_spec
from modelpilot.api.status import ModelDeploymentStatus, Phase, dump_status, parse_status
from modelpilot.operator.apply import apply, apply_autoscaler
from modelpilot.operator.autoscaling import KIND as HPA
from modelpilot.operator.autoscaling import plan_autoscaler, spec_with_running_replicas
from modelpilot.operator.cluster import Cluster, post_event
from modelpilot.operator.errors import (
    ApiError,
    PermanentError,
)
from modelpilot.operator.gates import GateChecker, observe_gates
from modelpilot.operator.live import DefaultMetrics, MetricsFactory, observe_canary
from modelpilot.operator.monitoring import Scraper, observe_drift
from modelpilot.operator.notify import Notifier
from modelpilot.operator.objects import Owner
from modelpilot.operator.observe import dataset_claim_to_read, observe, store_claim_to_read
from modelpilot.operator.rollout import InvalidSpec, Plan, plan
from modelpilot.operator.rollout.actions import CreateTrainingJob
from modelpilot.operator.rollout.conditions import carried_stall, with_stall
from modelpilot.operator.rollout.draft import Event
from modelpilot.operator.rollout.notices import notices_for
from modelpilot.operator.rollout.world import Stall, World
from modelpilot.operator.settings import Settings
from modelpilot.operator.training_queue import Queued, TrainingSlots

# A queued training is nudged when a slot frees; this is only the safety net.
QUEUED_RECHECK_SECONDS = 60.0

log = logging.getLogger("modelpilot.operator")
# Stalled reasons that applying an action finds (see PermanentError): carried from tick to tick.
APPLY_STALLS = frozenset({ConditionReason.NOT_OWNED, ConditionReason.ROUTER_SPEC_INVALID})


@dataclass(frozen=True)
class TickResult:
    gone: bool = False  # the ModelDeployment no longer exists (or is being deleted)
    requeue_after: float | None = None
    plan: Plan | None = None
    queued: Queued | None = None  # its training Job waits for a slot
    # spec.monitoring.maxFeaturePsi, for the drift series; None without spec.monitoring.
    max_feature_psi: float | None = None


def read_spec(raw: dict[str, Any]) -> ModelDeploymentSpec | InvalidSpec:
    try:
        return parse_spec(raw)
    except ValidationError as exc:
        problems = [
            f"spec.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        return InvalidSpec("; ".join(problems))


def read_status(raw: dict[str, Any] | None, *, name: str) -> ModelDeploymentStatus:
    try:
        return parse_status(raw)
    except ValidationError as exc:
        # Never reset silently: a reset revision counter would reuse Job names.
        raise ApiError(f"{name}: status is not a ModelDeployment status: {exc}") from exc


def tick(  # noqa: C901 (issue 20 splits it; until then a ratchet, not a pass)
    cluster: Cluster,
    settings: Settings,
    namespace: str,
    name: str,
    now: datetime,
    *,
    metrics: MetricsFactory | None = None,
    slots: TrainingSlots | None = None,
    drift: Scraper | None = None,
    gates: GateChecker | None = None,
    notifier: Notifier | None = None,
) -> TickResult:
    body = cluster.get(names.KIND, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        if slots is not None:
            slots.release((namespace, name))
        return TickResult(gone=True)
    selector = {names.LABEL_MODEL: name, names.LABEL_MANAGED_BY: names.MANAGED_BY}
    claim = store_claim_to_read(body.get("spec") or {}, settings)
    verified = (body.get("status") or {}).get("verifiedStoreClaim")
    if claim is not None and claim == verified:
        claim = None  # checked before (status remembers it): a model at rest reads nothing
    data_claim = dataset_claim_to_read(body.get("spec") or {}, settings)
    data_verified = (body.get("status") or {}).get("verifiedDatasetClaim")
    if data_claim is not None and data_claim == data_verified:
        data_claim = None  # likewise: one bounded GET by name when the claim is first named
    world = observe(
        body,
        jobs=cluster.list("Job", namespace, selector),
        pods=cluster.list("Pod", namespace, selector),
        deployments=cluster.list("Deployment", namespace, selector),
        services=cluster.list("Service", namespace, selector),
        replica_sets=cluster.list("ReplicaSet", namespace, selector),
        settings=settings,
        store_claim=None
        if claim is None
        else cluster.get("PersistentVolumeClaim", namespace, claim),
        verified_store_claim=verified,
        dataset_claim=None
        if data_claim is None
        else cluster.get("PersistentVolumeClaim", namespace, data_claim),
        verified_dataset_claim=data_verified,
    )
    autoscalers = cluster.list(HPA, namespace, selector)
    status = read_status(body.get("status"), name=name)
    spec = read_spec(body.get("spec") or {})
    carried = carried_stall(status.conditions, APPLY_STALLS)
    if carried is not None:
        world = dataclasses.replace(world, stall=carried)
    if not isinstance(spec, InvalidSpec):
        # With spec.serving.autoscaling the HPA's replica count stands in for
        # spec.serving.replicas, so no action below ever overwrites it.
        spec = spec_with_running_replicas(spec, status, world)
        world = observe_canary(
            world, spec, status, cluster, metrics=metrics or DefaultMetrics(), now=now
        )
        world = observe_drift(world, spec, status, now=now, scraper=drift)
        world = observe_gates(world, spec, status, gates)
    result = plan(spec, status, world, now)
    queued = None
    if slots is not None:
        result, queued = _take_training_slot(result, world, slots, (namespace, name))

    if result.status != status:
        body = cluster.replace_status(
            namespace, name, {**body, "status": dump_status(result.status)}
        )
    if result.actions or result.status.phase != status.phase:
        log.info(
            "%s/%s %s -> %s: %s",
            namespace,
            name,
            status.phase,
            result.status.phase,
            ", ".join(_describe(a) for a in result.actions) or "no actions",
            extra=_log_fields(namespace, name, result.status),
        )
    owner = Owner(name=name, namespace=namespace, uid=body["metadata"]["uid"])
    events = list(result.events)
    psi_limit = None
    if not isinstance(spec, InvalidSpec) and spec.monitoring is not None:
        psi_limit = spec.monitoring.max_feature_psi
    try:
        for action in result.actions:
            apply(action, cluster, owner=owner, settings=settings)
        if not isinstance(spec, InvalidSpec):
            for scaling in plan_autoscaler(
                spec, result.status, model=name, owner_uid=owner.uid, observed=autoscalers
            ):
                apply_autoscaler(scaling, cluster, owner=owner)
    except PermanentError as error:
        log.error(
            "%s/%s: stalled (%s): %s",
            namespace,
            name,
            error.reason,
            error.message,
            extra=_log_fields(namespace, name, result.status),
        )
        stall = Stall(error.reason, error.message, until_converged=True)
        at = now.astimezone(UTC).replace(microsecond=0)
        stalled = with_stall(result.status, stall, now=at, generation=world.generation)
        if stalled != result.status:
            cluster.replace_status(namespace, name, {**body, "status": dump_status(stalled)})
            events.append(Event("Warning", error.reason, error.message))
        for event in events:
            _post(cluster, body, event)
        _notify(notifier, spec, status, stalled, events, owner, now)
        # The resync looks again.
        return TickResult(requeue_after=None, plan=result, max_feature_psi=psi_limit)
    for event in events:
        _post(cluster, body, event)
    _notify(notifier, spec, status, result.status, events, owner, now)
    return TickResult(
        requeue_after=result.requeue_after, plan=result, queued=queued, max_feature_psi=psi_limit
    )


def _notify(
    notifier: Notifier | None,
    spec: ModelDeploymentSpec | InvalidSpec,
    before: ModelDeploymentStatus,
    after: ModelDeploymentStatus,
    events: list[Event],
    owner: Owner,
    now: datetime,
) -> None:
    """spec.notifications get this tick's notices, once its status is written (a tick that
    failed to write sends nothing, and the next one decides again)."""
    if notifier is None or isinstance(spec, InvalidSpec) or not spec.notifications:
        return
    notices = notices_for(before, after, events)
    if notices:
        notifier.publish(
            spec.notifications,
            notices,
            namespace=owner.namespace,
            name=owner.name,
            uid=owner.uid,
            now=now.astimezone(UTC),
        )


def _post(cluster: Cluster, body: dict[str, Any], event: Event) -> None:
    try:
        post_event(cluster, body, type_=event.type, reason=event.reason, message=event.message)
    except ApiError as exc:  # an Event is a courtesy; the status already says it
        meta = body["metadata"]
        log.warning(
            "%s/%s: could not post Event %s: %s", meta["namespace"], meta["name"], event.reason, exc
        )


def _log_fields(namespace: str, name: str, status: ModelDeploymentStatus) -> dict[str, str]:
    """The fields a JSON log line carries (modelpilot.api.logformat): the object, and the
    revision in flight (else the one that serves)."""
    current = status.candidate or status.stable
    fields = {"modeldeployment": f"{namespace}/{name}"}
    if current is not None:
        fields["revision"] = current.revision
    return fields


def _describe(action: object) -> str:
    name = getattr(action, "name", "")
    return f"{type(action).__name__}({name})"


def _take_training_slot(
    result: Plan, world: World, slots: TrainingSlots, key: tuple[str, str]
) -> tuple[Plan, Queued | None]:
    """Hold a slot while our Job runs; without one, drop the Job's creation and say so."""
    candidate = result.status.candidate
    job = world.jobs.get(candidate.revision) if candidate is not None else None
    wants_job = any(isinstance(a, CreateTrainingJob) for a in result.actions)
    if job is not None and not job.finished and result.status.phase is Phase.TRAINING:
        slots.hold(key)
        return result, None
    if not wants_job:
        slots.release(key)
        return result, None
    verdict = slots.request(key)
    if not isinstance(verdict, Queued):
        return result, None
    # The revision (and its Job's name) is already in status; the Job is created once a
    # slot is granted, by the same plan on a later tick.
    waiting = dataclasses.replace(
        result,
        actions=tuple(a for a in result.actions if not isinstance(a, CreateTrainingJob)),
        status=result.status.model_copy(update={"message": verdict.message}),
        requeue_after=QUEUED_RECHECK_SECONDS,
    )
    return waiting, verdict
