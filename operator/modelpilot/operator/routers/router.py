"""The one interface every traffic router implements, and what it routes.

A router moves requests between a model's stable and canary versions. It is told everything
it touches explicitly (`RouteTarget`) and keeps no state of its own: the split lives in the
cluster objects it weights, so a restarted operator reads it back with `get_weights`.

Every method is idempotent and level-triggered: calling it again with the same arguments
changes nothing, so the kopf shell may simply re-apply the plan's action after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from modelpilot.operator.routers.headers import HeaderRoute
from modelpilot.operator.routers.weights import Weights


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteTarget:
    """One model's stable and canary versions in one namespace, as the routers see them.

    Routers read only the fields their kind needs: `replicas` uses the Deployments and
    `replicas`; `gatewayAPI` and `istio` use the Services (which must each select exactly one
    version's pods, or the mesh cannot tell the versions apart).
    """

    namespace: str
    model: str  # the ModelDeployment's name
    stable_service: str
    canary_service: str
    stable_deployment: str
    canary_deployment: str
    replicas: int  # spec.serving.replicas: stable's pod count, and the canary's ceiling

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {self.replicas}")

    def kept_and_dropped(self, *, promoted: bool) -> tuple[str, str]:
        """When a rollout ends: (the Service that keeps all traffic, the one removed)."""
        if promoted:
            return self.canary_service, self.stable_service
        return self.stable_service, self.canary_service


@runtime_checkable
class TrafficRouter(Protocol):
    """Set and read the stable/canary split of one model's traffic."""

    kind: str  # the spec's name for it: "replicas" | "gatewayAPI" | "istio"

    def ensure_routes(self, target: RouteTarget) -> None:
        """Make the route ready to carry a canary at weight 0; checks the route is usable.

        Raises RouterSpecError when the route cannot work as written (for example no rule
        sends traffic to the stable Service), RouteNotFound when it does not exist.
        """
        ...

    def set_weights(self, target: RouteTarget, weights: Weights) -> Weights:
        """Apply the split; returns the split actually in effect (replicas may round)."""
        ...

    def get_weights(self, target: RouteTarget) -> Weights:
        """The split the route carries now; all-stable when it has no canary."""
        ...

    def finalize(self, target: RouteTarget, *, promoted: bool) -> Weights:
        """End the canary: all traffic to the canary (`promoted`) or back to stable (abort),
        and the other version's backend removed from the route. Returns the split in effect;
        a promotion the router cannot complete safely yet (replicas: canary pods not Ready)
        returns a partial split and completes on a later call."""
        ...


@runtime_checkable
class HeaderRouter(Protocol):
    """A router that can also send requests by their headers (gatewayAPI, istio)."""

    def set_header_routes(
        self, target: RouteTarget, header_routes: tuple[HeaderRoute, ...]
    ) -> None:
        """Exactly `header_routes` send their requests to the canary (none: all removed)."""
        ...

    def get_header_routes(self, target: RouteTarget) -> tuple[str, ...]:
        """The header routes the route carries now, as headers.signature strings."""
        ...
