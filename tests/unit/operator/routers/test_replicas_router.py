import pytest

from modelpilot.operator.routers import RouteNotFound, RouteTarget, Weights
from modelpilot.operator.routers.clients import DeploymentReplicas
from modelpilot.operator.routers.memory import MemoryDeployments
from modelpilot.operator.routers.replicas import ReplicasRouter

TARGET = RouteTarget(
    namespace="ml",
    model="iris",
    stable_service="iris-v1",
    canary_service="iris-v2",
    stable_deployment="iris-v1",
    canary_deployment="iris-v2",
    replicas=5,
)


def cluster(*, canary: int = 0, canary_ready: int | None = None) -> MemoryDeployments:
    deployments = MemoryDeployments()
    deployments.create("ml", "iris-v1", replicas=5)
    deployments.create("ml", "iris-v2", replicas=canary, ready=canary_ready)
    return deployments


def replicas(deployments: MemoryDeployments) -> tuple[int, int]:
    return (
        deployments.get_replicas("ml", "iris-v1").desired,
        deployments.get_replicas("ml", "iris-v2").desired,
    )


@pytest.mark.parametrize(
    ("canary_weight", "expected_replicas", "expected_actual"),
    [
        pytest.param(10, (5, 1), 17, id="10pct-scales-canary-to-one"),
        pytest.param(50, (5, 3), 38, id="50pct-scales-canary-to-three"),
        pytest.param(0, (5, 0), 0, id="zero-scales-canary-away"),
    ],
)
def test_set_weights_scales_the_canary_beside_a_full_stable(
    canary_weight, expected_replicas, expected_actual
):
    deployments = cluster(canary=1)
    router = ReplicasRouter(deployments)

    actual = router.set_weights(TARGET, Weights.canary_at(canary_weight))

    assert replicas(deployments) == expected_replicas
    assert actual.canary == expected_actual
    assert router.get_weights(TARGET) == actual


def test_set_weights_twice_writes_nothing_the_second_time():
    deployments = cluster()
    router = ReplicasRouter(deployments)
    router.set_weights(TARGET, Weights.canary_at(20))
    writes = len(deployments.scales)
    router.set_weights(TARGET, Weights.canary_at(20))
    assert len(deployments.scales) == writes


def test_promotion_waits_for_ready_canary_pods_before_scaling_stable_down():
    deployments = cluster(canary=1)
    router = ReplicasRouter(deployments)

    first = router.set_weights(TARGET, Weights.CANARY_ONLY)
    assert replicas(deployments) == (5, 5)  # stable untouched: canary pods not Ready yet
    assert first == Weights(50, 50)

    deployments.set_ready("ml", "iris-v2", 5)
    second = router.finalize(TARGET, promoted=True)
    assert replicas(deployments) == (0, 5)
    assert second == Weights.CANARY_ONLY
    assert router.get_weights(TARGET) == Weights.CANARY_ONLY


def test_abort_scales_the_canary_away_and_keeps_stable_full():
    deployments = cluster(canary=3)
    router = ReplicasRouter(deployments)
    assert router.finalize(TARGET, promoted=False) == Weights.STABLE_ONLY
    assert replicas(deployments) == (5, 0)
    # Shrinking canary comes first, so stable is never below its count in between.
    assert deployments.scales == [("ml", "iris-v2", 0)]


def test_no_canary_deployment_reads_as_all_stable():
    deployments = MemoryDeployments()
    deployments.create("ml", "iris-v1", replicas=5)
    assert ReplicasRouter(deployments).get_weights(TARGET) == Weights.STABLE_ONLY


def test_ensure_routes_reports_a_missing_stable_deployment():
    with pytest.raises(RouteNotFound, match="iris-v1"):
        ReplicasRouter(MemoryDeployments()).ensure_routes(TARGET)


def test_memory_deployments_lose_ready_pods_on_scale_down():
    deployments = cluster(canary=3, canary_ready=3)
    deployments.scale("ml", "iris-v2", 1)
    assert deployments.get_replicas("ml", "iris-v2") == DeploymentReplicas(desired=1, ready=1)
