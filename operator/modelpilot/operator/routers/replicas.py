"""The `replicas` router's arithmetic: no mesh, the replica counts of two Deployments split.

Service NAME selects the pods of both versions (by the model label), so each Ready pod gets
about the same share of requests and the canary's share is its share of the pods. Stable is
never scaled below `spec.serving.replicas` before promotion — a canary that turns out bad
must never have cost stable capacity — so the canary is scaled *up* beside it:

    canary pods = ceil(replicas * weight / 100), at least 1 while weight > 0, at most replicas
    actual weight = canary pods / (stable pods + canary pods)

Only weight 100 (promotion) scales stable down, and only once the canary's pods are Ready.
The rounding table is in docs/traffic-routers.md. There is no route object to write, so this
router has no client: the rollout's ReplicasStrategy (rollout.traffic) asks for the replica
count on the canary's Deployment and Service NAME selects both versions.
"""

from __future__ import annotations

from typing import NamedTuple


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
