"""setHeaderRoute steps walked with the operator core on the in-memory cluster: the route
gets the header rule at its step (weights unchanged), keeps it through the later steps, and
loses it on promotion and on abort; the replicas router refuses the step."""

from __future__ import annotations

import copy

import pytest
from canary_walk import NS, SPEC, Walk
from pydantic import ValidationError

from modelpilot.api import names
from modelpilot.api.spec import parse_spec

GATEWAY_ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "iris"},
    "spec": {
        "parentRefs": [{"name": "gw"}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/v2/models/iris"}}],
                "backendRefs": [{"name": "iris-v1", "port": 80}],
            },
        ],
    },
}
TESTERS = {
    "setHeaderRoute": {
        "name": "testers",
        "match": [{"headerName": "x-model-variant", "headerValue": {"exact": "canary"}}],
    }
}
HEADER_RULE = {
    "matches": [
        {
            "path": {"type": "PathPrefix", "value": "/v2/models/iris"},
            "headers": [{"type": "Exact", "name": "x-model-variant", "value": "canary"}],
        }
    ],
    "backendRefs": [{"name": "iris-v2", "weight": 100, "port": 80}],
}


def header_walk() -> Walk:
    spec = copy.deepcopy(SPEC)
    spec["rollout"]["trafficRouter"] = {"gatewayAPI": {"httpRoute": "iris"}}
    spec["rollout"]["steps"] = [TESTERS, {"pause": {"duration": "3s"}}, {"setWeight": 20}]
    w = Walk(spec)
    w.cluster.create("HTTPRoute", NS, copy.deepcopy(GATEWAY_ROUTE))
    return w


def rules(w: Walk) -> list[dict]:
    return w.cluster.get("HTTPRoute", NS, "iris")["spec"]["rules"]


def test_a_header_route_reaches_the_canary_while_the_weights_stay_and_goes_on_promotion():
    w = header_walk()
    w.start_canary()
    w.ready("v2")
    w.until(lambda: len(rules(w)) == 2, limit=5)
    assert rules(w)[1] == HEADER_RULE
    assert w.canary().weight == 0
    weights = {r["name"]: r.get("weight") for r in rules(w)[0]["backendRefs"]}
    assert weights["iris-v2"] == 0, "the weights stay as they are"
    assert w.canary().header_routes == [
        {
            "name": "testers",
            "match": [{"header": "x-model-variant", "kind": "exact", "value": "canary"}],
        }
    ]
    assert ("HeaderRouteSet", "v2: header route testers set") in w.cluster.events()
    # Steady: read back, nothing to write.
    writes = len(rules(w))
    result = w.tick()
    assert not [a for a in result.plan.actions if type(a).__name__ == "SetHeaderRoutes"]
    assert len(rules(w)) == writes
    w.until(lambda: w.canary().weight == 20)
    w.tick()
    assert rules(w)[1] == HEADER_RULE, "kept while the weights move"

    def promoted() -> bool:
        w.ready("v2")
        return w.status().phase == "Serving"

    w.until(promoted, limit=40)
    assert rules(w) == [
        {
            "matches": GATEWAY_ROUTE["spec"]["rules"][0]["matches"],
            "backendRefs": [{"name": "iris-v2", "port": 80, "weight": 100}],
        }
    ]


def test_abort_removes_the_header_route():
    w = header_walk()
    w.start_canary()
    w.ready("v2")
    w.until(lambda: len(rules(w)) == 2, limit=5)
    w.annotate(**{names.ANNOTATION_ABORT: "a"})
    w.tick()
    assert w.status().phase == "RolledBack"
    assert len(rules(w)) == 1
    assert [r["name"] for r in rules(w)[0]["backendRefs"]] == ["iris-v1"]


def test_the_replicas_router_refuses_a_header_route_saying_why():
    spec = copy.deepcopy(SPEC)
    spec["rollout"]["steps"] = [TESTERS]
    with pytest.raises(ValidationError, match="cannot route a request by its headers"):
        parse_spec(spec)


def test_a_header_value_needs_exactly_one_kind():
    spec = copy.deepcopy(SPEC)
    spec["rollout"]["trafficRouter"] = {"istio": {"virtualService": "iris"}}
    bad = copy.deepcopy(TESTERS)
    bad["setHeaderRoute"]["match"][0]["headerValue"] = {"exact": "a", "prefix": "b"}
    spec["rollout"]["steps"] = [bad]
    with pytest.raises(ValidationError, match="exactly one of exact, prefix, regex"):
        parse_spec(spec)
