"""The one interpreter of actions: the only code that changes the cluster.

Every branch is idempotent — creating what exists is success, deleting what is gone is
success — because a tick may be cut short by a restart between any two actions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from modelpilot.api.reasons import ConditionReason
from modelpilot.operator import objects
from modelpilot.operator.autoscaling import (
    KIND as HPA,
)
from modelpilot.operator.autoscaling import (
    AutoscalerAction,
    DeleteAutoscaler,
    EnsureAutoscaler,
    autoscaler_object,
)
from modelpilot.operator.cluster import Cluster
from modelpilot.operator.errors import (
    AlreadyExists,
    Conflict,
    PermanentError,
    from_component,
)
from modelpilot.operator.objects import Owner, owned_by
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
    SetHeaderRoutes,
    SetWeights,
)
from modelpilot.operator.route_clients import route_target, router_of
from modelpilot.operator.routers.errors import RouteNotFound, RouterError, RouterSpecError
from modelpilot.operator.routers.router import HeaderRouter
from modelpilot.operator.routers.weights import Weights
from modelpilot.operator.settings import Settings


def apply(action: Action, cluster: Cluster, *, owner: Owner, settings: Settings) -> None:
    ns = owner.namespace
    match action:
        case CreateTrainingJob():
            if not _create_if_absent(cluster, "Job", objects.training_job(action, owner, settings)):
                # Ours from an earlier tick is fine; someone else's would leave Training
                # waiting forever on a Job observe() never believes: Stalled, with the reason.
                _ensure_owned(cluster, "Job", ns, action.name, owner)
        case DeleteJob(name=name):
            cluster.delete("Job", ns, name)
        case EnsureServingDeployment():
            body = objects.serving_deployment(action, owner, settings)
            if not _create_if_absent(cluster, "Deployment", body):
                _ensure_owned(cluster, "Deployment", ns, action.name, owner)
                cluster.patch(
                    "Deployment",
                    ns,
                    action.name,
                    {
                        "metadata": {
                            "labels": body["metadata"]["labels"],
                            "annotations": body["metadata"]["annotations"],
                        },
                        "spec": {
                            "replicas": body["spec"]["replicas"],
                            "template": body["spec"]["template"],
                        },
                    },
                )
        case ScaleDeployment(name=name, replicas=replicas):
            cluster.patch("Deployment", ns, name, {"spec": {"replicas": replicas}})
        case DeleteDeployment(name=name):
            cluster.delete("Deployment", ns, name)
        case EnsureService():
            body = objects.service(action, owner)
            if not _create_if_absent(cluster, "Service", body):
                current = _ensure_owned(cluster, "Service", ns, action.name, owner)
                old = current.get("spec", {}).get("selector") or {}
                # A merge patch merges maps: keys no longer wanted must be nulled.
                selector: dict[str, Any] = {k: None for k in old if k not in action.selector}
                selector.update(action.selector)
                cluster.patch("Service", ns, action.name, {"spec": {"selector": selector}})
        case DeleteService(name=name):
            cluster.delete("Service", ns, name)
        case SetWeights(route=route) if route is not None:
            target = route_target(route, namespace=ns, model=owner.name)
            router = router_of(route, cluster)
            with _router_errors(f"setting weights {action.stable}/{action.canary}"):
                router.ensure_routes(target)
                router.set_weights(target, Weights(stable=action.stable, canary=action.canary))
        case SetHeaderRoutes(route=route, header_routes=header_routes):
            target = route_target(route, namespace=ns, model=owner.name)
            router = router_of(route, cluster)
            with _router_errors("setting header routes"):
                if not isinstance(router, HeaderRouter):  # the spec's validation refuses it
                    raise RouterSpecError(
                        f"the {router.kind} router cannot route by header (setHeaderRoute)"
                    )
                router.ensure_routes(target)
                router.set_header_routes(target, header_routes)
        case FinalizeRoutes(route=route, promoted=promoted):
            target = route_target(route, namespace=ns, model=owner.name)
            # A route that is gone has nothing left to clean: what finalizing wants.
            with _router_errors("finalizing the route"), suppress(RouteNotFound):
                router_of(route, cluster).finalize(target, promoted=promoted)
        case _:
            raise TypeError(f"unknown action {action!r}")


def apply_autoscaler(action: AutoscalerAction, cluster: Cluster, *, owner: Owner) -> None:
    """spec.serving.autoscaling's HPA (modelpilot.operator.autoscaling)."""
    ns = owner.namespace
    match action:
        case EnsureAutoscaler():
            body = autoscaler_object(action, namespace=ns, owner_reference=owner.reference())
            if not _create_if_absent(cluster, HPA, body):
                _ensure_owned(cluster, HPA, ns, action.name, owner)
                cluster.patch(HPA, ns, action.name, {"spec": body["spec"]})
        case DeleteAutoscaler(name=name):
            cluster.delete(HPA, ns, name)


@contextmanager
def _router_errors(what: str) -> Iterator[None]:
    """Router errors become operator errors: retried with back-off, or Stalled (permanent)."""
    try:
        yield
    except RouterError as error:
        raise from_component(error, f"traffic router: {what}") from error


def _create_if_absent(cluster: Cluster, kind: str, body: dict[str, Any]) -> bool:
    """True when created now; False when it already existed."""
    try:
        cluster.create(kind, body["metadata"]["namespace"], body)
    except AlreadyExists:
        return False
    return True


def _ensure_owned(cluster: Cluster, kind: str, ns: str, name: str, owner: Owner) -> dict[str, Any]:
    current = cluster.get(kind, ns, name)
    if current is None:
        raise Conflict(f"{kind} {ns}/{name} vanished while being updated; retrying")
    if not owned_by(current, owner.uid):
        # Retrying cannot help until a person acts: Stalled, never a hot retry loop.
        raise PermanentError(
            ConditionReason.NOT_OWNED,
            f"{kind} {ns}/{name} exists but is not owned by ModelDeployment {owner.name}: "
            "rename or delete it",
        )
    return current
