"""Traffic splitting's one owner on the pure side: a strategy per router kind.

plan() chooses the strategy once (`traffic_strategy(spec)`), and the canary's steps, the
stable Service, the sweep and the I/O edge (modelpilot.operator.live) only ever talk to it;
none of them asks which router it is (Flagger's `Router` interface, Argo Rollouts' traffic
routing reconcilers). Each strategy says, as data:

- which objects and actions a weight needs (`canary_pods`, `steer`, `stable_selector_revision`);
- what weight the observed world actually carries (`observed_split`, `carries`);
- which route must be read before planning (`route_to_read`), and how a canary ends on the
  route (`finalize`).

The effect side is the router client (modelpilot.operator.routers, applied by
modelpilot.operator.apply): it executes `SetWeights` and `FinalizeRoutes`.

`replicas`: the split *is* the canary Deployment's replica count, so the strategy asks for a
replica count on the Deployment (one action owning `spec.replicas`, never two fighting over
it) and Service NAME selects both versions while the canary is live; it has no route object.
`gatewayAPI` and `istio` (`RouteStrategy`): the canary runs all `spec.serving.replicas` pods
from the start (warm, so a weight change never waits for a cold pod), and `SetWeights` moves
the route's weights; the route is read back every tick.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from modelpilot.api import names
from modelpilot.api.spec import ModelDeploymentSpec, TrafficRouter, TrafficRouterKind
from modelpilot.operator.rollout.actions import (
    Action,
    FinalizeRoutes,
    Route,
    SetHeaderRoutes,
    SetWeights,
)
from modelpilot.operator.rollout.world import World
from modelpilot.operator.routers.headers import HeaderRoute, signature
from modelpilot.operator.routers.replicas import replica_split
from modelpilot.operator.routers.weights import Weights


@dataclass(frozen=True)
class Steering:
    """What keeping the route at a weight needs this tick."""

    actions: tuple[Action, ...] = ()
    # The route was not read this tick (the canary started in it): look first, write after.
    unread: bool = False


class TrafficStrategy(Protocol):
    """The pure side of one traffic router: desired objects and actions, observed split."""

    def canary_pods(self, weight: int) -> int:
        """Pods the canary Deployment runs while it takes (or is about to take) `weight`%."""
        ...

    def stable_selector_revision(self, stable: str, *, canary_live: bool) -> str | None:
        """The revision Service NAME selects; None selects every revision of the model."""
        ...

    def route_to_read(self, *, stable: str, canary: str) -> Route | None:
        """The route whose weights the I/O edge reads before plan(); None: nothing to read."""
        ...

    def steer(
        self,
        world: World,
        *,
        stable: str,
        canary: str,
        weight: int,
        header_routes: tuple[HeaderRoute, ...] = (),
    ) -> Steering:
        """The actions that make the traffic split carry `weight`% to the canary, and the
        header routes (setHeaderRoute steps) send their requests to it."""
        ...

    def observed_split(
        self, world: World, *, stable: str, canary: str, weight: int
    ) -> Mapping[str, Any]:
        """status.canary fields describing the split the world carries now (actual_weight...)."""
        ...

    def carries(self, world: World, weights: Weights) -> bool:
        """The observed world carries `weights` (pods' readiness is checked by the caller)."""
        ...

    def finalize(self, *, stable: str, gone: str) -> tuple[Action, ...]:
        """End a canary on the route before `gone`'s Deployment and Service are deleted."""
        ...


@dataclass(frozen=True)
class ReplicasStrategy:
    """No route object: the canary's replica count beside a full stable is the split."""

    replicas: int  # spec.serving.replicas

    def canary_pods(self, weight: int) -> int:
        # ceil(replicas * weight / 100), at least 1 while weight > 0 (routers.replicas); at
        # 100 (promotion) all `replicas`.
        if weight >= 100:
            return self.replicas
        return replica_split(self.replicas, weight).canary_replicas

    def stable_selector_revision(self, stable: str, *, canary_live: bool) -> str | None:
        # While a canary runs Service NAME selects both versions (no revision in the
        # selector), so the replica counts split the traffic. Promotion and abort point it
        # back at one revision in the same tick.
        return None if canary_live else stable

    def route_to_read(self, *, stable: str, canary: str) -> Route | None:
        return None

    def steer(
        self,
        world: World,
        *,
        stable: str,
        canary: str,
        weight: int,
        header_routes: tuple[HeaderRoute, ...] = (),
    ) -> Steering:
        # The canary Deployment's replica count (canary_pods) is the split; header routes
        # are refused by the spec's validation for this router.
        return Steering()

    def observed_split(
        self, world: World, *, stable: str, canary: str, weight: int
    ) -> Mapping[str, Any]:
        s, c = world.deployments.get(stable), world.deployments.get(canary)
        stable_pods = 0 if s is None else s.ready_replicas
        canary_pods = 0 if c is None else c.ready_replicas
        return {
            "stable_replicas": stable_pods,
            "canary_replicas": canary_pods,
            "actual_weight": Weights.from_shares(stable=stable_pods, canary=canary_pods).canary,
        }

    def carries(self, world: World, weights: Weights) -> bool:
        return True  # the pods are the split: Ready pods (checked by the caller) carry it

    def finalize(self, *, stable: str, gone: str) -> tuple[Action, ...]:
        return ()  # deleting the Deployment takes its pods out of Service NAME


@dataclass(frozen=True)
class RouteStrategy:
    """A route object (HTTPRoute, VirtualService) carries the weights; the canary runs warm."""

    router: TrafficRouter  # spec.rollout.trafficRouter
    replicas: int  # spec.serving.replicas

    def canary_pods(self, weight: int) -> int:
        return self.replicas

    def stable_selector_revision(self, stable: str, *, canary_live: bool) -> str | None:
        return stable

    def route_to_read(self, *, stable: str, canary: str) -> Route | None:
        return self._route(stable=stable, canary=canary)

    def steer(
        self,
        world: World,
        *,
        stable: str,
        canary: str,
        weight: int,
        header_routes: tuple[HeaderRoute, ...] = (),
    ) -> Steering:
        observed = world.route_weights
        if observed is None:
            return Steering(unread=True)
        route = self._route(stable=stable, canary=canary)
        actions: list[Action] = []
        wanted = Weights.canary_at(weight)
        if observed != wanted:
            actions.append(SetWeights(wanted.stable, wanted.canary, route))
        carried = world.route_header_routes or ()
        if carried != tuple(signature(h) for h in header_routes):
            actions.append(SetHeaderRoutes(route, header_routes))
        return Steering(actions=tuple(actions))

    def observed_split(
        self, world: World, *, stable: str, canary: str, weight: int
    ) -> Mapping[str, Any]:
        observed = world.route_weights
        return {"actual_weight": weight if observed is None else observed.canary}

    def carries(self, world: World, weights: Weights) -> bool:
        return world.route_weights == weights

    def finalize(self, *, stable: str, gone: str) -> tuple[Action, ...]:
        # After a promotion `gone` is the old stable (an older revision); otherwise an
        # aborted or superseded canary.
        if names.revision_number(gone) < names.revision_number(stable):
            route = self._route(stable=gone, canary=stable)
            return (
                FinalizeRoutes(route, promoted=True, reason=f"{stable} was promoted over {gone}"),
            )
        route = self._route(stable=stable, canary=gone)
        reason = f"{gone} no longer serves beside {stable}"
        return (FinalizeRoutes(route, promoted=False, reason=reason),)

    def _route(self, *, stable: str, canary: str) -> Route:
        return Route(
            router=self.router,
            stable_revision=stable,
            canary_revision=canary,
            replicas=self.replicas,
        )


def _replicas(spec: ModelDeploymentSpec) -> TrafficStrategy:
    return ReplicasStrategy(replicas=spec.serving.replicas)


def _route(spec: ModelDeploymentSpec) -> TrafficStrategy:
    return RouteStrategy(router=spec.rollout.traffic_router, replicas=spec.serving.replicas)


# One entry per router kind: adding a router is one strategy here plus its client in routers.
STRATEGIES: Mapping[TrafficRouterKind, Callable[[ModelDeploymentSpec], TrafficStrategy]] = {
    TrafficRouterKind.REPLICAS: _replicas,
    TrafficRouterKind.GATEWAY_API: _route,
    TrafficRouterKind.ISTIO: _route,
}


def traffic_strategy(spec: ModelDeploymentSpec) -> TrafficStrategy:
    """The strategy for spec.rollout.trafficRouter, chosen once per plan."""
    return STRATEGIES[spec.rollout.traffic_router.kind](spec)
