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
from modelpilot.api.spec import ModelDeploymentSpec, parse_spec
from modelpilot.api.status import ModelDeploymentStatus, dump_status, parse_status
from modelpilot.operator.apply import apply
from modelpilot.operator.cluster import Cluster, post_event
from modelpilot.operator.errors import (
    NOT_OWNED,
    ROUTER_SPEC_INVALID,
    ApiError,
    PermanentError,
)
from modelpilot.operator.live import DefaultMetrics, MetricsFactory, observe_canary
from modelpilot.operator.objects import Owner
from modelpilot.operator.observe import observe
from modelpilot.operator.rollout import InvalidSpec, Plan, plan
from modelpilot.operator.rollout.conditions import carried_stall, with_stall
from modelpilot.operator.rollout.draft import Event
from modelpilot.operator.rollout.world import Stall
from modelpilot.operator.settings import Settings

log = logging.getLogger("modelpilot.operator")
# Stalled reasons that applying an action finds (see PermanentError): carried from tick to tick.
APPLY_STALLS = frozenset({NOT_OWNED, ROUTER_SPEC_INVALID})


@dataclass(frozen=True)
class TickResult:
    gone: bool = False  # the ModelDeployment no longer exists (or is being deleted)
    requeue_after: float | None = None
    plan: Plan | None = None


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


def tick(
    cluster: Cluster,
    settings: Settings,
    namespace: str,
    name: str,
    now: datetime,
    *,
    metrics: MetricsFactory | None = None,
) -> TickResult:
    body = cluster.get(names.KIND, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return TickResult(gone=True)
    selector = {names.LABEL_MODEL: name, names.LABEL_MANAGED_BY: names.MANAGED_BY}
    world = observe(
        body,
        jobs=cluster.list("Job", namespace, selector),
        pods=cluster.list("Pod", namespace, selector),
        deployments=cluster.list("Deployment", namespace, selector),
        services=cluster.list("Service", namespace, selector),
        replica_sets=cluster.list("ReplicaSet", namespace, selector),
        settings=settings,
    )
    status = read_status(body.get("status"), name=name)
    spec = read_spec(body.get("spec") or {})
    carried = carried_stall(status.conditions, APPLY_STALLS)
    if carried is not None:
        world = dataclasses.replace(world, stall=carried)
    if not isinstance(spec, InvalidSpec):
        world = observe_canary(
            world, spec, status, cluster, metrics=metrics or DefaultMetrics(), now=now
        )
    result = plan(spec, status, world, now)

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
        )
    owner = Owner(name=name, namespace=namespace, uid=body["metadata"]["uid"])
    events = list(result.events)
    try:
        for action in result.actions:
            apply(action, cluster, owner=owner, settings=settings)
    except PermanentError as error:
        log.error("%s/%s: stalled (%s): %s", namespace, name, error.reason, error.message)
        stall = Stall(error.reason, error.message, until_converged=True)
        at = now.astimezone(UTC).replace(microsecond=0)
        stalled = with_stall(result.status, stall, now=at, generation=world.generation)
        if stalled != result.status:
            cluster.replace_status(namespace, name, {**body, "status": dump_status(stalled)})
            events.append(Event("Warning", error.reason, error.message))
        for event in events:
            _post(cluster, body, event)
        return TickResult(requeue_after=None, plan=result)  # the resync looks again
    for event in events:
        _post(cluster, body, event)
    return TickResult(requeue_after=result.requeue_after, plan=result)


def _post(cluster: Cluster, body: dict[str, Any], event: Event) -> None:
    try:
        post_event(cluster, body, type_=event.type, reason=event.reason, message=event.message)
    except ApiError as exc:  # an Event is a courtesy; the status already says it
        meta = body["metadata"]
        log.warning(
            "%s/%s: could not post Event %s: %s", meta["namespace"], meta["name"], event.reason, exc
        )


def _describe(action: object) -> str:
    name = getattr(action, "name", "")
    return f"{type(action).__name__}({name})"
