"""The `replicas` router: no mesh, the replica counts of two Deployments are the weights.

Service NAME selects the pods of both versions (by the model label), so each Ready pod gets
about the same share of requests and the canary's share is its share of the pods. Stable is
never scaled below `spec.serving.replicas` before promotion — a canary that turns out bad
must never have cost stable capacity — so the canary is scaled *up* beside it:

    canary pods = ceil(replicas * weight / 100), at least 1 while weight > 0, at most replicas
    actual weight = canary pods / (stable pods + canary pods)

Only weight 100 (promotion) scales stable down, and only once the canary's pods are Ready.
The rounding table is in docs/traffic-routers.md.
"""

from __future__ import annotations

from typing import NamedTuple

from modelpilot.operator.routers.clients import Deployments
from modelpilot.operator.routers.errors import RouteNotFound
from modelpilot.operator.routers.router import RouteTarget
from modelpilot.operator.routers.weights import Weights


class ReplicaSplit(NamedTuple):
    stable_replicas: int
    canary_replicas: int
    actual_weight: float  # percent of the pods (so of the requests) that are canary pods


def replica_split(total_replicas: int, canary_weight: int) -> ReplicaSplit:
    """Replica counts approximating `canary_weight` percent, with the weight they really give.

    >>> replica_split(5, 10)
    ReplicaSplit(stable_replicas=5, canary_replicas=1, actual_weight=16.666666666666668)
    """
    if total_replicas < 1:
        raise ValueError(f"total_replicas must be at least 1, got {total_replicas}")
    if not 0 <= canary_weight <= 100:
        raise ValueError(f"canary_weight {canary_weight} is outside [0, 100]")
    if canary_weight == 0:
        return ReplicaSplit(total_replicas, 0, 0.0)
    if canary_weight == 100:
        return ReplicaSplit(0, total_replicas, 100.0)
    # Integer ceil: float products such as 3 * 0.1 * 10 must not round 3.0000000000000004 up.
    canary = -(-total_replicas * canary_weight // 100)
    canary = min(total_replicas, max(1, canary))
    return ReplicaSplit(total_replicas, canary, 100 * canary / (total_replicas + canary))


class ReplicasRouter:
    """Weights as replica counts of the stable and canary Deployments."""

    kind = "replicas"

    def __init__(self, deployments: Deployments) -> None:
        self._deployments = deployments

    def ensure_routes(self, target: RouteTarget) -> None:
        # Service NAME already selects both versions; there is no route object. Reading the
        # stable Deployment surfaces a missing one as RouteNotFound here rather than later.
        self._deployments.get_replicas(target.namespace, target.stable_deployment)

    def set_weights(self, target: RouteTarget, weights: Weights) -> Weights:
        split = replica_split(target.replicas, weights.canary)
        if weights.canary == 100:
            return self._promote(target)
        # Canary first: when it shrinks (abort) stable is already at full strength.
        self._scale(target.namespace, target.canary_deployment, split.canary_replicas)
        self._scale(target.namespace, target.stable_deployment, split.stable_replicas)
        return Weights.from_shares(stable=split.stable_replicas, canary=split.canary_replicas)

    def get_weights(self, target: RouteTarget) -> Weights:
        """The split of the Deployments' desired replicas (traffic follows once they are
        Ready; the state machine waits for readiness before it moves on)."""
        stable = self._deployments.get_replicas(target.namespace, target.stable_deployment)
        try:
            canary = self._deployments.get_replicas(target.namespace, target.canary_deployment)
        except RouteNotFound:
            return Weights.STABLE_ONLY  # no canary Deployment: nothing but stable can serve
        return Weights.from_shares(stable=stable.desired, canary=canary.desired)

    def finalize(self, target: RouteTarget, *, promoted: bool) -> Weights:
        if promoted:
            return self._promote(target)
        self._scale(target.namespace, target.canary_deployment, 0)
        self._scale(target.namespace, target.stable_deployment, target.replicas)
        return Weights.STABLE_ONLY

    def _promote(self, target: RouteTarget) -> Weights:
        # Hazard: scaling stable down before the canary can take its load interrupts serving.
        # So stable goes to 0 only once the canary reports all its pods Ready; until then the
        # split stays half/half and a later call (the next tick) completes the promotion.
        self._scale(target.namespace, target.canary_deployment, target.replicas)
        canary = self._deployments.get_replicas(target.namespace, target.canary_deployment)
        if canary.ready < target.replicas:
            self._scale(target.namespace, target.stable_deployment, target.replicas)
            return Weights.from_shares(stable=target.replicas, canary=target.replicas)
        self._scale(target.namespace, target.stable_deployment, 0)
        return Weights.CANARY_ONLY

    def _scale(self, namespace: str, name: str, replicas: int) -> None:
        # Replica counts are absolute, so there is no read-modify-write to protect with a
        # resourceVersion; reading first only avoids writes that change nothing.
        if self._deployments.get_replicas(namespace, name).desired != replicas:
            self._deployments.scale(namespace, name, replicas)
