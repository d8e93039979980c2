"""The `gatewayAPI` router: weights on the backendRefs of a named HTTPRoute.

Every rule of the route that sends traffic to the stable or canary Service is weighted (a
route often has one rule per protocol path, /v1/models and /v2/models, and the canary must
see both); rules to other Services, matches, filters and the backendRefs' own filters are
left untouched. Gateway API weights are relative; we write percentages, so they read as such.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelpilot.operator.routers import headers
from modelpilot.operator.routers.backends import Entry, reweight, split_of
from modelpilot.operator.routers.clients import CustomObjects, ObjectRef, update_object
from modelpilot.operator.routers.errors import RouterSpecError
from modelpilot.operator.routers.router import RouteTarget
from modelpilot.operator.routers.weights import Weights

GROUP = "gateway.networking.k8s.io"
VERSION = "v1"
PLURAL = "httproutes"


class GatewayAPIRouter:
    """Weights on the backendRefs of HTTPRoute `http_route` in the target's namespace."""

    kind = "gatewayAPI"

    def __init__(self, objects: CustomObjects, *, http_route: str, version: str = VERSION) -> None:
        self._objects = objects
        self._http_route = http_route
        self._version = version

    def ensure_routes(self, target: RouteTarget) -> None:
        def add_canary(route: dict[str, Any]) -> dict[str, Any]:
            return _reweighted(route, target, weights={target.canary_service: 0}, add_only=True)

        update_object(self._objects, self._ref(target), add_canary)

    def set_weights(self, target: RouteTarget, weights: Weights) -> Weights:
        split = {target.stable_service: weights.stable, target.canary_service: weights.canary}
        update_object(
            self._objects,
            self._ref(target),
            lambda route: _reweighted(route, target, weights=split),
        )
        return weights

    def get_weights(self, target: RouteTarget) -> Weights:
        route = self._objects.get(self._ref(target))
        refs = _rules_to_versions(route, target)[0].get("backendRefs") or []
        return split_of(refs, target, _service_of(target))

    def finalize(self, target: RouteTarget, *, promoted: bool) -> Weights:
        keep, drop = target.kept_and_dropped(promoted=promoted)

        def finalized(route: dict[str, Any]) -> dict[str, Any]:
            route = _with_header_routes(route, target, ())  # header routes end with the canary
            return _reweighted(route, target, weights={keep: 100}, remove=(drop,))

        update_object(self._objects, self._ref(target), finalized)
        return Weights.CANARY_ONLY if promoted else Weights.STABLE_ONLY

    def set_header_routes(
        self, target: RouteTarget, header_routes: tuple[headers.HeaderRoute, ...]
    ) -> None:
        """Exactly `header_routes` send their requests to the canary (none: all removed)."""
        update_object(
            self._objects,
            self._ref(target),
            lambda route: _with_header_routes(route, target, header_routes),
        )

    def get_header_routes(self, target: RouteTarget) -> tuple[str, ...]:
        """The signatures (headers.signature) of the header routes the route carries."""
        return headers.signatures_of(self._objects.get(self._ref(target)))

    def _ref(self, target: RouteTarget) -> ObjectRef:
        return ObjectRef(
            group=GROUP,
            version=self._version,
            plural=PLURAL,
            namespace=target.namespace,
            name=self._http_route,
        )


def _service_of(target: RouteTarget) -> Callable[[Entry], str | None]:
    ours = (target.stable_service, target.canary_service)

    def service_of(ref: Entry) -> str | None:
        is_service = ref.get("group", "") == "" and ref.get("kind", "Service") == "Service"
        same_namespace = ref.get("namespace", target.namespace) == target.namespace
        name = ref.get("name")
        return name if is_service and same_namespace and name in ours else None

    return service_of


def _renamed(ref: Entry, service: str) -> Entry:
    ref["name"] = service
    return ref


def _with_header_routes(
    route: dict[str, Any], target: RouteTarget, header_routes: tuple[headers.HeaderRoute, ...]
) -> dict[str, Any]:
    weighted = _rules_to_versions(route, target)
    service_of = _service_of(target)
    refs = [ref for rule in weighted for ref in rule.get("backendRefs") or [] if service_of(ref)]
    stable_ref = next((r for r in refs if service_of(r) == target.stable_service), refs[0])
    return headers.set_gateway_header_routes(
        route,
        header_routes,
        weighted=weighted,
        canary_service=target.canary_service,
        stable_ref=stable_ref,
    )


def _rules_to_versions(route: dict[str, Any], target: RouteTarget) -> list[dict[str, Any]]:
    """The weighted rules: those sending to a version, except the header routes we added."""
    service_of = _service_of(target)
    ours = [entry["rule"] for entry in headers.managed(route)]
    rules = [
        rule
        for rule in (route.get("spec") or {}).get("rules") or []
        if any(service_of(ref) for ref in rule.get("backendRefs") or []) and rule not in ours
    ]
    if not rules:
        name = (route.get("metadata") or {}).get("name", "?")
        raise RouterSpecError(
            f"HTTPRoute {target.namespace}/{name} has no rule with a backendRef to Service "
            f"{target.stable_service} (stable) or {target.canary_service} (canary); "
            "point a rule at the stable Service"
        )
    return rules


def _reweighted(
    route: dict[str, Any],
    target: RouteTarget,
    *,
    weights: dict[str, int],
    remove: tuple[str, ...] = (),
    add_only: bool = False,
) -> dict[str, Any]:
    for rule in _rules_to_versions(route, target):
        rule["backendRefs"] = reweight(
            rule["backendRefs"],
            service_of=_service_of(target),
            renamed=_renamed,
            weights=weights,
            remove=remove,
            add_only=add_only,
        )
    return route
