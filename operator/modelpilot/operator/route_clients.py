"""The traffic routers' client Protocols over the operator's own `Cluster`.

The operator speaks raw JSON through `cluster.Cluster` (one transport, one error tree, one
fake for tests), so this thin adapter lets the routers run on it instead of a second client
stack. The operator's
errors become the routers' errors here, once: NotFound -> RouteNotFound, Conflict ->
RouteConflict, 400/422 (the object was refused) -> RouterSpecError.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from modelpilot.operator.cluster import KINDS, Cluster
from modelpilot.operator.errors import ApiError, Conflict, NotFound
from modelpilot.operator.rollout.actions import Route
from modelpilot.operator.rollout.naming import deployment_name, revision_service_name
from modelpilot.operator.routers.clients import ObjectRef
from modelpilot.operator.routers.errors import RouteConflict, RouteNotFound, RouterSpecError
from modelpilot.operator.routers.registry import RouterClients, router_for
from modelpilot.operator.routers.router import RouteTarget, TrafficRouter


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except NotFound as error:
        raise RouteNotFound(f"{what} not found") from error
    except Conflict as error:
        raise RouteConflict(str(error)) from error
    except ApiError as error:
        if error.status in (400, 422):
            raise RouterSpecError(f"{what}: {error}") from error
        raise


def _kind(ref: ObjectRef) -> str:
    for kind, (prefix, plural) in KINDS.items():
        if plural == ref.plural and prefix == f"/apis/{ref.group}/{ref.version}":
            return kind
    raise RouterSpecError(f"{ref}: the operator does not handle {ref.group}/{ref.version}")


class ClusterCustomObjects:
    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    def get(self, ref: ObjectRef) -> dict[str, Any]:
        with _translated(str(ref)):
            found = self._cluster.get(_kind(ref), ref.namespace, ref.name)
        if found is None:
            raise RouteNotFound(f"{ref} not found")
        return found

    def replace(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        # body carries the resourceVersion that was read: a stale one is a Conflict.
        with _translated(str(ref)):
            return self._cluster.replace(_kind(ref), ref.namespace, ref.name, body)


def router_clients(cluster: Cluster) -> RouterClients:
    return RouterClients(objects=ClusterCustomObjects(cluster))


def route_target(route: Route, *, namespace: str, model: str) -> RouteTarget:
    """The routers' view of a Route: per-version Services and Deployments NAME-vN."""
    return RouteTarget(
        namespace=namespace,
        model=model,
        stable_service=revision_service_name(model, route.stable_revision),
        canary_service=revision_service_name(model, route.canary_revision),
        stable_deployment=deployment_name(model, route.stable_revision),
        canary_deployment=deployment_name(model, route.canary_revision),
        replicas=route.replicas,
    )


def router_of(route: Route, cluster: Cluster) -> TrafficRouter:
    """The router spec.rollout.trafficRouter names, on this cluster."""
    return router_for(route.router, router_clients(cluster))
