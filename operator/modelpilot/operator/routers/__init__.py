"""Traffic routers: move requests between a model's stable and canary versions.

One Protocol (`TrafficRouter`: ensure_routes, set_weights, get_weights, finalize), one frozen
`Weights` value, three implementations chosen by `spec.rollout.trafficRouter` through
`router_for` — `replicas` (replica counts), `gatewayAPI` (HTTPRoute backendRef weights),
`istio` (VirtualService destination weights). Routers reach the cluster only through the
small client Protocols in `clients`; `kube` implements them on the kubernetes client and
`memory` in memory for tests. This package's import does not pull in kubernetes.
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
