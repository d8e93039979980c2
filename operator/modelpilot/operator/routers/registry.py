"""Which router a spec asks for: an explicit table, and no fallback.

An unknown or missing router kind is a spec error. Falling back to some default would shift
real traffic with a mechanism nobody chose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from modelpilot.api.spec import TrafficRouter as TrafficRouterSpec
from modelpilot.operator.routers.clients import CustomObjects, Deployments
from modelpilot.operator.routers.errors import RouterSpecError
from modelpilot.operator.routers.gateway_api import GatewayAPIRouter
from modelpilot.operator.routers.istio import IstioRouter
from modelpilot.operator.routers.replicas import ReplicasRouter
from modelpilot.operator.routers.router import TrafficRouter

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RouterClients:
    """What the routers may touch; `kube.py` builds the real ones, `memory.py` fakes."""

    objects: CustomObjects
    deployments: Deployments


def _replicas(spec: TrafficRouterSpec, clients: RouterClients) -> TrafficRouter:
    return ReplicasRouter(clients.deployments)


def _gateway_api(spec: TrafficRouterSpec, clients: RouterClients) -> TrafficRouter:
    config = _configured(spec.gateway_api, "gatewayAPI")
    return GatewayAPIRouter(clients.objects, http_route=config.http_route)


def _istio(spec: TrafficRouterSpec, clients: RouterClients) -> TrafficRouter:
    config = _configured(spec.istio, "istio")
    return IstioRouter(clients.objects, virtual_service=config.virtual_service, route=config.route)


def _configured(config: T | None, kind: str) -> T:
    if config is None:
        raise RouterSpecError(f"trafficRouter.{kind} is not set")
    return config


ROUTERS: Mapping[str, Callable[[TrafficRouterSpec, RouterClients], TrafficRouter]] = {
    "replicas": _replicas,
    "gatewayAPI": _gateway_api,
    "istio": _istio,
}


def router_for(
    spec: TrafficRouterSpec | Mapping[str, Any], clients: RouterClients
) -> TrafficRouter:
    """The router `spec.rollout.trafficRouter` names; RouterSpecError for anything else."""
    if not isinstance(spec, TrafficRouterSpec):
        try:
            spec = TrafficRouterSpec.model_validate(spec)
        except ValidationError as error:
            raise RouterSpecError(
                f"invalid trafficRouter {dict(spec)!r}: known routers are "
                f"{', '.join(ROUTERS)}; {error.errors()[0]['msg']}"
            ) from error
    factory = ROUTERS.get(spec.kind)
    if factory is None:
        raise RouterSpecError(
            f"unknown traffic router {spec.kind!r}; known routers are {', '.join(ROUTERS)}"
        )
    return factory(spec, clients)
