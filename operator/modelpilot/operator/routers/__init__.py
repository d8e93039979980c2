"""Traffic routers: move requests between a model's stable and canary versions.

The effect side of traffic splitting. One Protocol (`TrafficRouter`: ensure_routes,
set_weights, get_weights, finalize), one frozen `Weights` value, and a client per router kind
with a route object, chosen by `spec.rollout.trafficRouter` through `router_for` —
`gatewayAPI` (HTTPRoute backendRef weights), `istio` (VirtualService destination weights).
The `replicas` router has no route object: `replica_split` is its arithmetic, and the pure
side (modelpilot.operator.rollout.traffic, one strategy per kind) plans its replica counts.
Routers reach the cluster only through the small client Protocol in `clients`;
modelpilot.operator.route_clients implements it on the operator's Cluster and `memory` in
memory for tests. This package's import does not pull in kubernetes.
"""

from modelpilot.operator.routers.errors import (
    RouteConflict,
    RouteNotFound,
    RouterError,
    RouterSpecError,
)
from modelpilot.operator.routers.registry import ROUTERS, RouterClients, router_for
from modelpilot.operator.routers.replicas import ReplicaSplit, replica_split
from modelpilot.operator.routers.router import RouteTarget, TrafficRouter
from modelpilot.operator.routers.weights import Weights

__all__ = [
    "ROUTERS",
    "ReplicaSplit",
    "RouteConflict",
    "RouteNotFound",
    "RouteTarget",
    "RouterClients",
    "RouterError",
    "RouterSpecError",
    "TrafficRouter",
    "Weights",
    "replica_split",
    "router_for",
]
