"""The hollow node (kubemark-style scale runs): where a pod's paths lie on this machine, and
serving pods that answer HTTP as the real server does, read by the operator's own scraper."""

from __future__ import annotations

import http.client

import pytest
from nodeagent.hollow import claim_path, http_ports
from nodeagent.hollow_http import HollowServers, answer, metrics_page
from prometheus_client.parser import text_string_to_metric_families

from modelpilot.api import serving_metrics
from modelpilot.operator.analysis import fetch
from modelpilot.operator.analysis.pods import PodsMetricsSource

VOLUMES = [
    {"name": "store", "persistentVolumeClaim": {"claimName": "models"}},
    {"name": "scratch", "emptyDir": {}},
]
OWN = "ml/iris/uid-1/v1"


def test_a_trainers_output_is_found_through_its_subpath_mount():
    """The trainer's output IS its mount path (subPath = its revision's directory): the
    bundle must land below the claim's root at that subPath. Looking only for paths strictly
    below a mount path left every hollow revision without its bundle in the store."""
    trainer = {
        "volumeMounts": [
            {"name": "store", "mountPath": f"/models/{OWN}", "subPath": OWN},
            {"name": "scratch", "mountPath": "/tmp"},
        ]
    }
    assert claim_path(f"/models/{OWN}", trainer, VOLUMES) == ("models", OWN)
    assert claim_path(f"/models/{OWN}/model.joblib", trainer, VOLUMES) == (
        "models",
        f"{OWN}/model.joblib",
    )
    assert claim_path("/tmp/x", trainer, VOLUMES) is None  # an emptyDir, not the store
    assert claim_path("/elsewhere", trainer, VOLUMES) is None


def test_a_whole_claim_mount_maps_below_its_root():
    server = {"volumeMounts": [{"name": "store", "mountPath": "/models/"}]}
    assert claim_path(f"/models/{OWN}", server, VOLUMES) == ("models", OWN)
    assert claim_path("/models", server, VOLUMES) == ("models", "")
    assert claim_path("/modelsX/a", server, VOLUMES) is None


def test_only_the_http_port_is_answered():
    container = {
        "ports": [{"name": "http", "containerPort": 8080}, {"name": "grpc", "containerPort": 8081}]
    }
    assert http_ports(container) == [8080]


def test_the_routes_a_hollow_pod_answers():
    page = b"# page\n"
    assert answer("GET", "/metrics", page).body == page
    assert answer("GET", "/v2/health/ready", page).status == 200
    assert answer("GET", "/healthz?verbose=1", page).status == 200
    assert answer("POST", "/metrics", page).status == 405
    assert answer("POST", "/v2/models/iris/infer", page).status == 404


def test_the_metrics_page_is_the_real_servers_under_the_shared_names():
    page = metrics_page("iris", "v3", task="classification", classes=[0, 1, 2]).decode()
    families = {f.name for f in text_string_to_metric_families(page)}
    assert serving_metrics.REQUESTS_TOTAL.removesuffix("_total") in families
    assert serving_metrics.REQUEST_DURATION in families
    assert serving_metrics.PREDICTIONS_TOTAL.removesuffix("_total") in families


@pytest.fixture
def servers():
    running = HollowServers()
    yield running
    running.shutdown()


def _get(port: int, path: str, conn: http.client.HTTPConnection | None = None):
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    return conn, response.status, response.read()


def test_a_hollow_pod_answers_health_and_metrics_on_one_kept_alive_connection(servers):
    page = metrics_page("iris", "v1", task="classification", classes=[0, 1, 2])
    port = servers.open("127.0.0.1", 0, page)
    conn, status, body = _get(port, "/healthz")
    assert (status, body) == (200, b'{"status":"ok"}')
    _, status, body = _get(port, "/metrics", conn)  # the same connection, kept alive
    assert (status, body) == (200, page)
    _, status, _ = _get(port, "/v2/models/iris/infer", conn)
    assert status == 404
    conn.close()


def test_the_operators_scraper_reads_a_hollow_pod_like_a_real_one(servers):
    page = metrics_page("iris", "v1", task="classification", classes=[0, 1, 2])
    port = servers.open("127.0.0.1", 0, page)
    with fetch.client() as client:  # the operator's own client and scraper
        source = PodsMetricsSource(client, port=port)
        sample = source.query(
            namespace="ml",
            model="iris",
            version="v1",
            pod_ips=["127.0.0.1"],
            window_seconds=15,
            previous=None,
        )
    assert sample.unreachable == ()
    assert "127.0.0.1" in sample.snapshot.pods


def test_a_closed_pod_no_longer_answers(servers):
    port = servers.open("127.0.0.1", 0, b"")
    servers.close("127.0.0.1")
    with pytest.raises(OSError):
        _get(port, "/healthz")
