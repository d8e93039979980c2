"""Header routes (`setHeaderRoute`) rendered into a real HTTPRoute and VirtualService (in
memory): the exact objects, left alone by the weights, replaced idempotently, and removed on
promotion and on abort."""

import copy

import pytest

from modelpilot.operator.routers import RouteTarget, Weights
from modelpilot.operator.routers.clients import ObjectRef
from modelpilot.operator.routers.gateway_api import GatewayAPIRouter
from modelpilot.operator.routers.headers import ANNOTATION, HeaderMatch, HeaderRoute
from modelpilot.operator.routers.istio import IstioRouter
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
TESTERS = HeaderRoute("testers", (HeaderMatch("x-model-variant", "exact", "canary"),))
TEAM = HeaderRoute(
    "team",
    (HeaderMatch("x-team", "prefix", "ml."), HeaderMatch("x-debug", "regex", "^(1|true)$")),
)
DOCS_RULE = {
    "matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
    "backendRefs": [{"name": "docs", "port": 80}],
}
GATEWAY_REF = ObjectRef(
    group="gateway.networking.k8s.io",
    version="v1",
    plural="httproutes",
    namespace="ml",
    name="iris",
)
ISTIO_REF = ObjectRef(
    group="networking.istio.io", version="v1", plural="virtualservices", namespace="ml", name="iris"
)


def http_route() -> dict:
    return {
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                copy.deepcopy(DOCS_RULE),
                {
                    "matches": [
                        {"path": {"type": "PathPrefix", "value": "/v1/models"}},
                        {"path": {"type": "PathPrefix", "value": "/v2/models"}},
                    ],
                    "backendRefs": [{"name": "iris-v1", "port": 8080}],
                },
            ],
        }
    }


@pytest.fixture
def gateway():
    objects = MemoryObjects()
    objects.create(GATEWAY_REF, http_route())
    router = GatewayAPIRouter(objects, http_route="iris")
    router.ensure_routes(TARGET)
    router.set_weights(TARGET, Weights.canary_at(20))
    return objects, router


def test_gateway_header_route_is_one_rule_to_the_canary_with_the_weighted_rules_matches(gateway):
    objects, router = gateway
    router.set_header_routes(TARGET, (TESTERS,))
    route = objects.get(GATEWAY_REF)
    header = {"type": "Exact", "name": "x-model-variant", "value": "canary"}
    rule = {
        "matches": [
            {"path": {"type": "PathPrefix", "value": "/v1/models"}, "headers": [header]},
            {"path": {"type": "PathPrefix", "value": "/v2/models"}, "headers": [header]},
        ],
        "backendRefs": [{"name": "iris-v2", "weight": 100, "port": 8080}],
    }
    assert route["spec"]["rules"][0] == DOCS_RULE
    assert route["spec"]["rules"][1]["backendRefs"] == [
        {"name": "iris-v1", "port": 8080, "weight": 80},
        {"name": "iris-v2", "port": 8080, "weight": 20},
    ]
    assert route["spec"]["rules"][2] == rule
    assert router.get_header_routes(TARGET) == ("testers[x-model-variant:exact=canary]",)
    # The weights neither see nor touch it.
    assert router.get_weights(TARGET) == Weights.canary_at(20)
    router.set_weights(TARGET, Weights.canary_at(50))
    assert objects.get(GATEWAY_REF)["spec"]["rules"][2] == rule


def test_gateway_prefix_and_regex_are_regular_expressions(gateway):
    objects, router = gateway
    router.set_header_routes(TARGET, (TEAM,))
    [match, _] = objects.get(GATEWAY_REF)["spec"]["rules"][2]["matches"]
    assert match["headers"] == [
        {"type": "RegularExpression", "name": "x-team", "value": "^ml\\..*"},
        {"type": "RegularExpression", "name": "x-debug", "value": "^(1|true)$"},
    ]


def test_gateway_header_routes_are_replaced_idempotently(gateway):
    objects, router = gateway
    router.set_header_routes(TARGET, (TESTERS,))
    writes = objects.writes
    router.set_header_routes(TARGET, (TESTERS,))
    assert objects.writes == writes, "the same routes again: nothing written"
    router.set_header_routes(TARGET, (TESTERS, TEAM))
    assert [s.split("[")[0] for s in router.get_header_routes(TARGET)] == ["testers", "team"]
    assert len(objects.get(GATEWAY_REF)["spec"]["rules"]) == 4


@pytest.mark.parametrize("promoted", [True, False])
def test_gateway_header_routes_go_on_promotion_and_abort(gateway, promoted):
    objects, router = gateway
    router.set_header_routes(TARGET, (TESTERS, TEAM))
    router.finalize(TARGET, promoted=promoted)
    route = objects.get(GATEWAY_REF)
    kept = "iris-v2" if promoted else "iris-v1"
    assert route["spec"]["rules"] == [
        DOCS_RULE,
        {
            "matches": http_route()["spec"]["rules"][1]["matches"],
            "backendRefs": [{"name": kept, "port": 8080, "weight": 100}],
        },
    ]
    assert ANNOTATION not in (route["metadata"].get("annotations") or {})
    assert router.get_header_routes(TARGET) == ()


def virtual_service() -> dict:
    return {
        "spec": {
            "hosts": ["iris.example.com"],
            "http": [
                {
                    "name": "predict",
                    "match": [{"uri": {"prefix": "/v1/models"}}],
                    "route": [
                        {
                            "destination": {
                                "host": "iris-v1.ml.svc.cluster.local",
                                "port": {"number": 8080},
                            }
                        }
                    ],
                },
            ],
        }
    }


@pytest.fixture
def istio():
    objects = MemoryObjects()
    objects.create(ISTIO_REF, virtual_service())
    router = IstioRouter(objects, virtual_service="iris")
    router.ensure_routes(TARGET)
    router.set_weights(TARGET, Weights.canary_at(20))
    return objects, router


def test_istio_header_route_comes_first_and_sends_to_the_canary_host(istio):
    objects, router = istio
    router.set_header_routes(TARGET, (TESTERS, TEAM))
    http = objects.get(ISTIO_REF)["spec"]["http"]
    canary = {"host": "iris-v2.ml.svc.cluster.local", "port": {"number": 8080}}
    assert http[0] == {
        "name": "testers",
        "match": [
            {"uri": {"prefix": "/v1/models"}, "headers": {"x-model-variant": {"exact": "canary"}}}
        ],
        "route": [{"destination": canary, "weight": 100}],
    }
    assert http[1]["name"] == "team"
    assert http[1]["match"][0]["headers"] == {
        "x-team": {"prefix": "ml."},
        "x-debug": {"regex": "^(1|true)$"},
    }
    assert http[2]["name"] == "predict"
    # The weighted route is still found (not the header route now first) and weighted.
    assert router.get_weights(TARGET) == Weights.canary_at(20)
    router.set_weights(TARGET, Weights.canary_at(50))
    after = objects.get(ISTIO_REF)["spec"]["http"]
    assert after[:2] == http[:2]
    assert [d["weight"] for d in after[2]["route"]] == [50, 50]


@pytest.mark.parametrize("promoted", [True, False])
def test_istio_header_routes_go_on_promotion_and_abort(istio, promoted):
    objects, router = istio
    router.set_header_routes(TARGET, (TESTERS,))
    router.finalize(TARGET, promoted=promoted)
    http = objects.get(ISTIO_REF)["spec"]["http"]
    assert [r["name"] for r in http] == ["predict"]
    host = "iris-v2" if promoted else "iris-v1"
    assert [d["destination"]["host"] for d in http[0]["route"]] == [f"{host}.ml.svc.cluster.local"]
    assert router.get_header_routes(TARGET) == ()
