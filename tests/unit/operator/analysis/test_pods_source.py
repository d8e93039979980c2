"""The pods scraper against pods served by httpx.MockTransport (a real in-process transport)."""

import json

import httpx
import pytest
from metrics_pages import render_metrics

from modelpilot.operator.analysis import MetricsSource, MetricsUnavailable, Snapshot
from modelpilot.operator.analysis.pods import PodsMetricsSource


class Pods:
    """Serving pods by IP, each with its /metrics page; a pod set to None does not answer."""

    def __init__(self) -> None:
        self.pages: dict[str, str | None] = {}
        self.urls: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        page = self.pages.get(request.url.host)
        if page is None:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, text=page)

    def source(self) -> PodsMetricsSource:
        return PodsMetricsSource(httpx.Client(transport=httpx.MockTransport(self.handle)))


def served(ok: int, *, errors: int = 0, version: str = "v2") -> str:
    return render_metrics(
        version=version,
        requests=[("v1", "200", ok), ("v1", "503", errors)] if errors else [("v1", "200", ok)],
        latencies=[0.01] * ok,
    )


def query(source, pod_ips, previous, version="v2"):
    return source.query(
        namespace="ml",
        model="iris",
        version=version,
        pod_ips=pod_ips,
        window_seconds=15,
        previous=previous,
    )


def through_status(snapshot: Snapshot | None) -> Snapshot | None:
    """What the next tick reads back: the snapshot as stored in status, JSON and all."""
    assert snapshot is not None
    return Snapshot.from_status(json.loads(json.dumps(snapshot.to_status(), allow_nan=False)))


def test_first_scrape_takes_the_baseline_and_the_next_one_a_window():
    pods = Pods()
    pods.pages = {"10.0.0.5": served(100), "10.0.0.6": served(40)}
    source = pods.source()
    assert isinstance(source, MetricsSource)

    first = query(source, ["10.0.0.5", "10.0.0.6"], None)
    assert first.window is None
    assert pods.urls == ["http://10.0.0.5:8080/metrics", "http://10.0.0.6:8080/metrics"]

    pods.pages = {"10.0.0.5": served(130, errors=2), "10.0.0.6": served(50)}
    second = query(source, ["10.0.0.5", "10.0.0.6"], through_status(first.snapshot))
    assert second.window is not None
    assert second.window.requests == {"2xx": 40, "5xx": 2}  # (130-100) + (50-40), summed
    assert second.window.latency[0.01] == 40


def test_a_restarted_pod_counts_from_zero_and_the_others_keep_their_deltas():
    pods = Pods()
    pods.pages = {"10.0.0.5": served(100), "10.0.0.6": served(40)}
    source = pods.source()
    first = query(source, ["10.0.0.5", "10.0.0.6"], None)
    pods.pages = {"10.0.0.5": served(3), "10.0.0.6": served(45)}  # .5 restarted
    second = query(source, ["10.0.0.5", "10.0.0.6"], through_status(first.snapshot))
    assert second.window.requests == {"2xx": 3 + 5}


def test_a_new_pod_is_counted_from_its_start():
    pods = Pods()
    pods.pages = {"10.0.0.5": served(10)}
    source = pods.source()
    first = query(source, ["10.0.0.5"], None)
    pods.pages = {"10.0.0.5": served(20), "10.0.0.9": served(4)}
    second = query(source, ["10.0.0.5", "10.0.0.9"], through_status(first.snapshot))
    assert second.window.requests == {"2xx": 14}
    assert set(second.snapshot.pods) == {"10.0.0.5", "10.0.0.9"}


def test_a_silent_pod_keeps_its_previous_counters():
    pods = Pods()
    pods.pages = {"10.0.0.5": served(10), "10.0.0.6": served(10)}
    source = pods.source()
    first = query(source, ["10.0.0.5", "10.0.0.6"], None)
    pods.pages = {"10.0.0.5": served(15), "10.0.0.6": None}
    second = query(source, ["10.0.0.5", "10.0.0.6"], through_status(first.snapshot))
    assert second.unreachable == ("10.0.0.6",)
    assert second.window.requests == {"2xx": 5}
    pods.pages = {"10.0.0.5": served(15), "10.0.0.6": served(18)}
    third = query(source, ["10.0.0.5", "10.0.0.6"], through_status(second.snapshot))
    assert third.window.requests == {"2xx": 8}  # measured from .6's last answer, 10


def test_no_pod_answering_is_unavailable():
    pods = Pods()
    pods.pages = {"10.0.0.5": None}
    with pytest.raises(MetricsUnavailable, match="no iris v2 pod in ml answered"):
        query(pods.source(), ["10.0.0.5"], None)


def test_another_versions_page_counts_as_nothing_served():
    pods = Pods()
    pods.pages = {"10.0.0.5": served(10, version="v1")}
    source = pods.source()
    first = query(source, ["10.0.0.5"], None)
    second = query(source, ["10.0.0.5"], through_status(first.snapshot))
    assert second.window.total_requests == 0


def test_ipv6_pod_ips_are_bracketed():
    pods = Pods()
    pods.pages = {"fd00::5": served(1)}
    query(pods.source(), ["fd00::5"], None)
    assert pods.urls == ["http://[fd00::5]:8080/metrics"]
