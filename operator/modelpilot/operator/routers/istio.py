"""The `istio` router: weights on the destinations of one http route of a VirtualService.

The route is the one named in `spec.rollout.trafficRouter.istio.route`, else the first. A
destination belongs to a version when its host is the version's Service, by short name
(`iris-v1`) or qualified (`iris-v1.ml`, `iris-v1.ml.svc.cluster.local`); a canary
destination is added as a copy of the stable one with the host's Service part replaced (and
no subset: versions are told apart by Service, not by DestinationRule subsets). Istio wants
the weights of a route's destinations to sum to 100, so the route must send only to the two
versions; other http routes, matches, retries, headers are left untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from modelpilot.operator.routers import headers
from modelpilot.operator.routers.backends import Entry, reweight, split_of
from modelpilot.operator.routers.clients import CustomObjects, ObjectRef, update_object
from modelpilot.operator.routers.errors import RouterSpecError
from modelpilot.operator.routers.router import RouteTarget
from modelpilot.operator.routers.weights import Weights

GROUP = "networking.istio.io"
VERSION = "v1"  # served since Istio 1.22; pass version="v1beta1" for older meshes
PLURAL = "virtualservices"


class IstioRouter:
    """Weights on the destinations of VirtualService `virtual_service`'s http route."""

    kind = "istio"

    def __init__(
        self,
        objects: CustomObjects,
        *,
        virtual_service: str,
        route: str | None = None,
        version: str = VERSION,
    ) -> None:
        self._objects = objects
        self._virtual_service = virtual_service
        self._route = route
        self._version = version

    def ensure_routes(self, target: RouteTarget) -> None:
        self._update(target, weights={target.canary_service: 0}, add_only=True)

    def set_weights(self, target: RouteTarget, weights: Weights) -> Weights:
        self._update(
            target,
            weights={target.stable_service: weights.stable, target.canary_service: weights.canary},
        )
        return weights

    def get_weights(self, target: RouteTarget) -> Weights:
        service = self._objects.get(self._ref(target))
        destinations = self._http_route(service, target).get("route") or []
        return split_of(destinations, target, _service_of(target))

    def finalize(self, target: RouteTarget, *, promoted: bool) -> Weights:
        keep, drop = target.kept_and_dropped(promoted=promoted)
        self._update(target, weights={keep: 100}, remove=(drop,), header_routes=())
        return Weights.CANARY_ONLY if promoted else Weights.STABLE_ONLY

    def set_header_routes(
        self, target: RouteTarget, header_routes: tuple[headers.HeaderRoute, ...]
    ) -> None:
        """Exactly `header_routes` send their requests to the canary (none: all removed)."""

        def change(service: dict[str, Any]) -> dict[str, Any]:
            return self._with_header_routes(service, target, header_routes)

        update_object(self._objects, self._ref(target), change)

    def get_header_routes(self, target: RouteTarget) -> tuple[str, ...]:
        """The signatures (headers.signature) of the header routes the route carries."""
        return headers.signatures_of(self._objects.get(self._ref(target)))

    def _with_header_routes(
        self,
        service: dict[str, Any],
        target: RouteTarget,
        header_routes: tuple[headers.HeaderRoute, ...],
    ) -> dict[str, Any]:
        weighted = self._http_route(service, target)
        service_of = _service_of(target)
        destinations = [d for d in weighted.get("route") or [] if service_of(d)]
        stable = next(
            (d for d in destinations if service_of(d) == target.stable_service), destinations[0]
        )
        canary = _renamed(copy.deepcopy(stable), target.canary_service)["destination"]
        return headers.set_istio_header_routes(
            service, header_routes, weighted=copy.deepcopy(weighted), canary_destination=canary
        )

    def _update(
        self,
        target: RouteTarget,
        *,
        weights: dict[str, int],
        remove: tuple[str, ...] = (),
        add_only: bool = False,
        header_routes: tuple[headers.HeaderRoute, ...] | None = None,
    ) -> None:
        def change(service: dict[str, Any]) -> dict[str, Any]:
            if header_routes is not None:
                service = self._with_header_routes(service, target, header_routes)
            http = self._http_route(service, target)
            http["route"] = reweight(
                http["route"],
                service_of=_service_of(target),
                renamed=_renamed,
                weights=weights,
                remove=remove,
                add_only=add_only,
            )
            return service

        update_object(self._objects, self._ref(target), change)

    def _http_route(self, service: dict[str, Any], target: RouteTarget) -> dict[str, Any]:
        """The http route to weight, checked to send only to the two versions."""
        where = f"VirtualService {target.namespace}/{self._virtual_service}"
        ours = [entry["rule"] for entry in headers.managed(service)]
        routes = [r for r in (service.get("spec") or {}).get("http") or [] if r not in ours]
        if self._route is None:
            if not routes:
                raise RouterSpecError(f"{where} has no http routes")
            http, label = routes[0], "first http route"
        else:
            http = next((r for r in routes if r.get("name") == self._route), None)
            if http is None:
                raise RouterSpecError(f"{where} has no http route named {self._route!r}")
            label = f"http route {self._route!r}"
        destinations = http.get("route") or []
        service_of = _service_of(target)
        if not any(service_of(d) for d in destinations):
            raise RouterSpecError(
                f"{where}: the {label} has no destination with host {target.stable_service} "
                f"(stable) or {target.canary_service} (canary); point it at the stable Service"
            )
        others = [d.get("destination", {}).get("host") for d in destinations if not service_of(d)]
        if others:
            raise RouterSpecError(
                f"{where}: the {label} also sends to {', '.join(map(str, others))}; Istio needs "
                "its weights to sum to 100, so it may send only to the stable and canary Services"
            )
        found: dict[str, Any] = http
        return found

    def _ref(self, target: RouteTarget) -> ObjectRef:
        return ObjectRef(
            group=GROUP,
            version=self._version,
            plural=PLURAL,
            namespace=target.namespace,
            name=self._virtual_service,
        )


def _service_of(target: RouteTarget) -> Callable[[Entry], str | None]:
    def service_of(entry: Entry) -> str | None:
        host = (entry.get("destination") or {}).get("host", "")
        for service in (target.stable_service, target.canary_service):
            qualified = f"{service}.{target.namespace}"
            if host in (service, qualified) or host.startswith(qualified + "."):
                return service
        return None

    return service_of


def _renamed(entry: Entry, service: str) -> Entry:
    destination = entry["destination"]
    host = destination["host"]
    # Keep the qualification: iris-v1.ml.svc.cluster.local -> iris-v2.ml.svc.cluster.local.
    _, dot, rest = host.partition(".")
    destination["host"] = service + dot + rest
    destination.pop("subset", None)
    return entry
