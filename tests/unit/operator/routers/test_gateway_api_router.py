import copy

import pytest

from modelpilot.operator.routers import RouteConflict, RouterSpecError, RouteTarget, Weights
from modelpilot.operator.routers.clients import ObjectRef
from modelpilot.operator.routers.gateway_api import GatewayAPIRouter
from modelpilot.operator.routers.memory import MemoryObjects

TARGET = RouteTarget(
    namespace="ml",
    model="iris",
    stable_service="iris-v1",
    canary_service="iris-v2",
    stable_deployment="iris-v1",
    canary_deployment="iris-v2",
    replicas=3,
)
REF = ObjectRef(
    group="gateway.networking.k8s.io",
    version="v1",
    plural="httproutes",
    namespace="ml",
    name="iris",
)
HEADER_FILTER = {
    "type": "RequestHeaderModifier",
    "requestHeaderModifier": {"add": [{"name": "x-model", "value": "iris"}]},
}
DOCS_RULE = {
    "matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
    "backendRefs": [{"name": "docs", "port": 80}],
}


def http_route() -> dict:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "hostnames": ["models.example.com"],
            "rules": [
                copy.deepcopy(DOCS_RULE),
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/v1/models"}}],
                    "filters": [copy.deepcopy(HEADER_FILTER)],
                    "backendRefs": [{"name": "iris-v1", "port": 8080}],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/v2/models"}}],
                    "backendRefs": [
                        {"kind": "Service", "name": "iris-v1", "port": 8080, "weight": 1}
                    ],
                },
            ],
        },
    }


def setup(route: dict | None = None) -> tuple[MemoryObjects, GatewayAPIRouter]:
    objects = MemoryObjects()
    objects.create(REF, route or http_route())
    return objects, GatewayAPIRouter(objects, http_route="iris")


def backends(objects: MemoryObjects, rule: int) -> list[tuple[str, int | None]]:
    refs = objects.get(REF)["spec"]["rules"][rule]["backendRefs"]
    return [(ref["name"], ref.get("weight")) for ref in refs]


def test_ensure_routes_adds_the_canary_at_zero_to_every_rule_to_stable():
    objects, router = setup()
    router.ensure_routes(TARGET)
    assert backends(objects, 1) == [("iris-v1", None), ("iris-v2", 0)]
    assert backends(objects, 2) == [("iris-v1", 1), ("iris-v2", 0)]
    assert router.get_weights(TARGET) == Weights.STABLE_ONLY
    added = objects.get(REF)["spec"]["rules"][2]["backendRefs"][1]
    assert added == {"kind": "Service", "name": "iris-v2", "port": 8080, "weight": 0}


def test_ensure_routes_never_resets_a_weight_in_effect():
    _, router = setup()
    router.set_weights(TARGET, Weights.canary_at(30))
    router.ensure_routes(TARGET)
    assert router.get_weights(TARGET) == Weights.canary_at(30)


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param(Weights.canary_at(10), id="first-step"),
        pytest.param(Weights.canary_at(50), id="half"),
        pytest.param(Weights.STABLE_ONLY, id="back-to-stable"),
    ],
)
def test_set_weights_weights_both_backends_and_leaves_the_rest(weights):
    objects, router = setup()
    assert router.set_weights(TARGET, weights) == weights
    for rule in (1, 2):
        assert backends(objects, rule) == [
            ("iris-v1", weights.stable),
            ("iris-v2", weights.canary),
        ]
    assert router.get_weights(TARGET) == weights
    route = objects.get(REF)
    assert route["spec"]["rules"][0] == DOCS_RULE
    assert route["spec"]["rules"][1]["filters"] == [HEADER_FILTER]
    assert route["spec"]["rules"][1]["matches"] == http_route()["spec"]["rules"][1]["matches"]
    assert route["spec"]["parentRefs"] == [{"name": "gateway"}]


def test_set_weights_again_writes_nothing():
    objects, router = setup()
    router.set_weights(TARGET, Weights.canary_at(20))
    writes = objects.writes
    router.set_weights(TARGET, Weights.canary_at(20))
    assert objects.writes == writes


@pytest.mark.parametrize(
    ("promoted", "expected_backend", "expected_weights"),
    [
        pytest.param(False, "iris-v1", Weights.STABLE_ONLY, id="abort-keeps-stable"),
        pytest.param(True, "iris-v2", Weights.CANARY_ONLY, id="promote-keeps-canary"),
    ],
)
def test_finalize_leaves_one_backend_at_100(promoted, expected_backend, expected_weights):
    objects, router = setup()
    router.set_weights(TARGET, Weights.canary_at(50))
    assert router.finalize(TARGET, promoted=promoted) == expected_weights
    for rule in (1, 2):
        assert backends(objects, rule) == [(expected_backend, 100)]
    assert objects.get(REF)["spec"]["rules"][0] == DOCS_RULE
    assert router.get_weights(TARGET) == expected_weights


def test_next_rollout_starts_from_a_promoted_route():
    objects, router = setup()
    router.set_weights(TARGET, Weights.canary_at(50))
    router.finalize(TARGET, promoted=True)
    # v2 is stable now; v3 is the next canary.
    nxt = RouteTarget(
        namespace="ml",
        model="iris",
        stable_service="iris-v2",
        canary_service="iris-v3",
        stable_deployment="iris-v2",
        canary_deployment="iris-v3",
        replicas=3,
    )
    router.set_weights(nxt, Weights.canary_at(10))
    assert backends(objects, 1) == [("iris-v2", 90), ("iris-v3", 10)]


@pytest.mark.parametrize(
    "refs",
    [
        pytest.param([{"name": "other", "port": 80}], id="other-service-only"),
        pytest.param([{"name": "iris-v1", "namespace": "prod"}], id="stable-name-other-namespace"),
        pytest.param(
            [{"group": "example.com", "kind": "Backend", "name": "iris-v1"}], id="not-a-service"
        ),
    ],
)
def test_a_route_without_a_rule_to_stable_is_a_spec_error(refs):
    route = {"spec": {"rules": [{"backendRefs": refs}]}}
    objects, router = setup(route)
    with pytest.raises(RouterSpecError, match="no rule with a backendRef to Service iris-v1"):
        router.ensure_routes(TARGET)
    assert objects.writes == 0


class RacingObjects(MemoryObjects):
    """Another writer changes the route between our read and our write, `races` times."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    def replace(self, ref, body):
        if self.races:
            self.races -= 1
            theirs = self.get(ref)
            theirs["spec"]["hostnames"].append(f"other-{self.races}.example.com")
            super().replace(ref, theirs)
        return super().replace(ref, body)


def test_a_conflicting_write_is_retried_on_the_fresh_object():
    objects = RacingObjects(races=1)
    objects.create(REF, http_route())
    GatewayAPIRouter(objects, http_route="iris").set_weights(TARGET, Weights.canary_at(10))
    route = objects.get(REF)
    assert "other-0.example.com" in route["spec"]["hostnames"]  # their change survives
    assert backends(objects, 1) == [("iris-v1", 90), ("iris-v2", 10)]


def test_conflicts_that_outlast_the_retries_are_raised():
    objects = RacingObjects(races=10)
    objects.create(REF, http_route())
    with pytest.raises(RouteConflict):
        GatewayAPIRouter(objects, http_route="iris").set_weights(TARGET, Weights.canary_at(10))
