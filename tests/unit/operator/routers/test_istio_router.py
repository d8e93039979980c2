import pytest

from modelpilot.operator.routers import RouteNotFound, RouterSpecError, RouteTarget, Weights
from modelpilot.operator.routers.clients import ObjectRef
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
REF = ObjectRef(
    group="networking.istio.io",
    version="v1",
    plural="virtualservices",
    namespace="ml",
    name="iris",
)
MIRROR_ROUTE = {
    "name": "shadow",
    "match": [{"uri": {"prefix": "/shadow"}}],
    "route": [{"destination": {"host": "shadow"}}],
}


def virtual_service(host: str = "iris-v1") -> dict:
    return {
        "spec": {
            "hosts": ["iris.example.com"],
            "http": [
                dict(MIRROR_ROUTE),
                {
                    "name": "predict",
                    "match": [{"uri": {"prefix": "/v1/models"}}],
                    "retries": {"attempts": 2},
                    "route": [
                        {
                            "destination": {"host": host, "port": {"number": 8080}},
                            "headers": {"response": {"set": {"x-served-by": "modelpilot"}}},
                        }
                    ],
                },
            ],
        }
    }


def setup(vs: dict | None = None, route: str | None = "predict"):
    objects = MemoryObjects()
    objects.create(REF, vs or virtual_service())
    return objects, IstioRouter(objects, virtual_service="iris", route=route)


def destinations(objects: MemoryObjects, index: int = 1) -> list[tuple[str, int | None]]:
    http = objects.get(REF)["spec"]["http"][index]
    return [(d["destination"]["host"], d.get("weight")) for d in http["route"]]


def test_set_weights_on_the_named_route_adds_the_canary_destination():
    objects, router = setup()
    router.ensure_routes(TARGET)
    assert destinations(objects) == [("iris-v1", None), ("iris-v2", 0)]
    assert router.set_weights(TARGET, Weights.canary_at(20)) == Weights.canary_at(20)
    assert destinations(objects) == [("iris-v1", 80), ("iris-v2", 20)]
    assert router.get_weights(TARGET) == Weights.canary_at(20)
    vs = objects.get(REF)
    assert vs["spec"]["http"][0] == MIRROR_ROUTE
    assert vs["spec"]["http"][1]["retries"] == {"attempts": 2}
    canary = vs["spec"]["http"][1]["route"][1]
    assert canary["destination"] == {"host": "iris-v2", "port": {"number": 8080}}
    assert canary["headers"] == {"response": {"set": {"x-served-by": "modelpilot"}}}


@pytest.mark.parametrize(
    ("stable_host", "canary_host"),
    [
        pytest.param("iris-v1", "iris-v2", id="short-name"),
        pytest.param("iris-v1.ml", "iris-v2.ml", id="name-dot-namespace"),
        pytest.param(
            "iris-v1.ml.svc.cluster.local", "iris-v2.ml.svc.cluster.local", id="fully-qualified"
        ),
    ],
)
def test_hosts_keep_their_qualification(stable_host, canary_host):
    objects, router = setup(virtual_service(stable_host))
    router.set_weights(TARGET, Weights.canary_at(10))
    assert destinations(objects) == [(stable_host, 90), (canary_host, 10)]


def test_the_first_route_is_weighted_when_none_is_named():
    vs = virtual_service()
    vs["spec"]["http"].reverse()
    objects, router = setup(vs, route=None)
    router.set_weights(TARGET, Weights.canary_at(10))
    assert destinations(objects, 0) == [("iris-v1", 90), ("iris-v2", 10)]
    assert objects.get(REF)["spec"]["http"][1] == MIRROR_ROUTE


@pytest.mark.parametrize(
    ("promoted", "expected"),
    [
        pytest.param(False, [("iris-v1", 100)], id="abort"),
        pytest.param(True, [("iris-v2", 100)], id="promote"),
    ],
)
def test_finalize(promoted, expected):
    objects, router = setup()
    router.set_weights(TARGET, Weights.canary_at(50))
    router.finalize(TARGET, promoted=promoted)
    assert destinations(objects) == expected
    assert objects.get(REF)["spec"]["http"][0] == MIRROR_ROUTE


@pytest.mark.parametrize(
    ("vs", "route", "message"),
    [
        pytest.param(
            virtual_service(), "missing", "no http route named 'missing'", id="no-such-route"
        ),
        pytest.param({"spec": {"http": []}}, None, "has no http routes", id="no-routes"),
        pytest.param(
            virtual_service("other"),
            "predict",
            "no destination with host iris-v1",
            id="route-not-to-stable",
        ),
        pytest.param(
            virtual_service("iris-v1.prod.svc.cluster.local"),
            "predict",
            "no destination with host iris-v1",
            id="stable-name-other-namespace",
        ),
    ],
)
def test_unusable_virtual_services_are_spec_errors(vs, route, message):
    objects, router = setup(vs, route=route)
    with pytest.raises(RouterSpecError, match=message):
        router.set_weights(TARGET, Weights.canary_at(10))
    assert objects.writes == 0


def test_a_route_that_also_sends_elsewhere_is_refused():
    vs = virtual_service()
    vs["spec"]["http"][1]["route"].append({"destination": {"host": "legacy"}, "weight": 0})
    _, router = setup(vs)
    with pytest.raises(RouterSpecError, match="also sends to legacy"):
        router.set_weights(TARGET, Weights.canary_at(10))


def test_a_missing_virtual_service_is_not_found():
    router = IstioRouter(MemoryObjects(), virtual_service="iris")
    with pytest.raises(RouteNotFound, match=r"virtualservices\.networking\.istio\.io ml/iris"):
        router.get_weights(TARGET)
