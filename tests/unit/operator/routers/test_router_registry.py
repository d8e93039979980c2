import pytest

from modelpilot.api.spec import TrafficRouter as TrafficRouterSpec
from modelpilot.operator.routers import ROUTERS, RouterClients, RouterSpecError, router_for
from modelpilot.operator.routers.gateway_api import GatewayAPIRouter
from modelpilot.operator.routers.istio import IstioRouter
from modelpilot.operator.routers.memory import MemoryObjects
from modelpilot.operator.routers.router import TrafficRouter

CLIENTS = RouterClients(objects=MemoryObjects())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({"gatewayAPI": {"httpRoute": "iris"}}, GatewayAPIRouter, id="gateway-api"),
        pytest.param({"istio": {"virtualService": "iris"}}, IstioRouter, id="istio"),
    ],
)
def test_router_for_each_kind_with_a_route(raw, expected):
    router = router_for(TrafficRouterSpec.model_validate(raw), CLIENTS)
    assert isinstance(router, expected)
    assert isinstance(router, TrafficRouter)
    assert router.kind in ROUTERS
    assert router_for(raw, CLIENTS).kind == router.kind  # a raw mapping parses the same


def test_the_replicas_router_has_no_route_client():
    # Its split is planned as replica counts (rollout.traffic); nothing may weight a route.
    with pytest.raises(RouterSpecError, match="no route object"):
        router_for({"replicas": {}}, CLIENTS)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"nginx": {"ingress": "iris"}}, id="unknown-kind"),
        pytest.param({}, id="no-kind"),
        pytest.param({"replicas": {}, "istio": {"virtualService": "iris"}}, id="two-kinds"),
    ],
)
def test_anything_else_is_a_spec_error_never_a_fallback(raw):
    with pytest.raises(RouterSpecError, match="known routers are replicas, gatewayAPI, istio"):
        router_for(raw, CLIENTS)
