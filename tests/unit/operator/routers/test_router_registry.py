import pytest

from modelpilot.api.spec import TrafficRouter as TrafficRouterSpec
from modelpilot.operator.routers import ROUTERS, RouterClients, RouterSpecError, router_for
from modelpilot.operator.routers.gateway_api import GatewayAPIRouter
from modelpilot.operator.routers.istio import IstioRouter
from modelpilot.operator.routers.memory import MemoryDeployments, MemoryObjects
from modelpilot.operator.routers.replicas import ReplicasRouter
from modelpilot.operator.routers.router import TrafficRouter

CLIENTS = RouterClients(objects=MemoryObjects(), deployments=MemoryDeployments())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({"replicas": {}}, ReplicasRouter, id="replicas"),
        pytest.param({"gatewayAPI": {"httpRoute": "iris"}}, GatewayAPIRouter, id="gateway-api"),
        pytest.param({"istio": {"virtualService": "iris"}}, IstioRouter, id="istio"),
    ],
)
def test_router_for_each_kind(raw, expected):
    router = router_for(TrafficRouterSpec.model_validate(raw), CLIENTS)
    assert isinstance(router, expected)
    assert isinstance(router, TrafficRouter)
    assert router.kind in ROUTERS
    assert router_for(raw, CLIENTS).kind == router.kind  # a raw mapping parses the same


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
