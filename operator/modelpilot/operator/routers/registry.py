"""Which route client a spec asks for: an explicit table, and no fallback.

An unknown or missing router kind is a spec error. Falling back to some default would shift
real traffic with a mechanism nobody chose. The `replicas` router has no route object and so
no client (its split is the Deployments' replica counts, planned by rollout.traffic): asking
for one is an error too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from modelpilot.api.spec import TrafficRouter as TrafficRouterSpec
from modelpilot.api.spec import TrafficRouterKind
from modelpilot.operator.routers.clients import CustomObjects
from modelpilot.operator.routers.errors import RouterSpecError
from modelpilot.operator.routers.gateway_api import GatewayAPIRouter
from modelpilot.operator.routers.istio import IstioRouter
from modelpilot.operator.routers.router import TrafficRouter

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RouterClients:
    """What the routers may touch: route_clients builds the real one, `memory.py` a fake."""

    objects: CustomObjects


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


ROUTERS: Mapping[TrafficRouterKind, Callable[[TrafficRouterSpec, RouterClients], TrafficRouter]] = {
    TrafficRouterKind.GATEWAY_API: _gateway_api,
    TrafficRouterKind.ISTIO: _istio,
}
KNOWN = ", ".join(TrafficRouterKind)


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
                f"{KNOWN}; {error.errors()[0]['msg']}"
            ) from error
    factory = ROUTERS.get(spec.kind)
    if factory is None:
        raise RouterSpecError(
            f"traffic router {spec.kind!r} has no route object to weight (routers with one: "
            f"{', '.join(ROUTERS)})"
        )
    return factory(spec, clients)
