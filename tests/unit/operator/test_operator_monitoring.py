"""Drift scraping (issue 21 §4): bounded, IPv6-safe, and no page can raise out of the tick.

The pods are served by httpx.MockTransport (a real in-process transport); time is a fake
clock that each answer advances, so "slow pods" cost no wall time. On main the page without
a label raised KeyError out of the tick, the IPv6 URL was not one, and every pod was read
one after another with no total deadline.
"""

from __future__ import annotations

import httpx
import pytest

from modelpilot.operator import monitoring

PAGE = (
    "# TYPE modelpilot_feature_bin_total counter\n"
    'modelpilot_feature_bin_total{model="iris",version="v1",feature="a",bin="0"} 3\n'
    "# TYPE modelpilot_feature_reference_ratio gauge\n"
    'modelpilot_feature_reference_ratio{model="iris",version="v1",feature="a",bin="0"} 1\n'
)


class Pods:
    """Pods answering `page`; each answer takes `seconds` of the fake clock."""

    def __init__(self, page: str = PAGE, seconds: float = 0.0) -> None:
        self.page, self.seconds, self.now = page, seconds, 0.0
        self.hosts: list[str] = []

    def clock(self) -> float:
        return self.now

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        self.now += self.seconds
        return httpx.Response(200, text=self.page)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))


@pytest.mark.parametrize(
    ("ip", "url"),
    [
        ("10.0.0.5", "http://10.0.0.5:8080/metrics"),
        ("fd00:10:244::5", "http://[fd00:10:244::5]:8080/metrics"),
    ],
    ids=["ipv4-as-is", "ipv6-bracketed"],
)
def test_pod_urls_are_urls(ip, url):
    assert monitoring.pod_url(ip) == url
    assert httpx.URL(url).host == ip


def test_an_ipv6_pod_is_read():
    pods = Pods()
    drift = monitoring.scrape(
        "iris", "v1", ("fd00:10:244::5",), client=pods.client(), clock=pods.clock
    )
    assert drift.error is None and drift.live == {"fd00:10:244::5": {"a": {"0": 3.0}}}


def test_a_page_missing_a_label_is_an_error_in_the_result_not_an_exception():
    page = PAGE.replace(',bin="0"} 3', "} 3")
    pods = Pods(page=page)
    drift = monitoring.scrape("iris", "v1", ("10.0.0.5",), client=pods.client(), clock=pods.clock)
    assert drift.live == {} and "not a drift page" in (drift.error or "")
    assert "modelpilot_feature_bin_total" not in (drift.error or "")  # the page is not quoted


def test_at_most_max_pods_are_read_per_window():
    pods = Pods()
    ips = tuple(f"10.0.{i // 200}.{i % 200}" for i in range(300))
    drift = monitoring.scrape("iris", "v1", ips, client=pods.client(), clock=pods.clock)
    assert len(pods.hosts) == monitoring.MAX_PODS == len(drift.live)


def test_many_slow_pods_hold_the_worker_no_longer_than_the_budget():
    pods = Pods(seconds=1.5)  # each pod answers, slowly
    ips = tuple(f"10.0.0.{i}" for i in range(50))
    drift = monitoring.scrape(
        "iris", "v1", ips, client=pods.client(), clock=pods.clock, budget_seconds=4.0
    )
    assert pods.now <= 4.0 + 1.5  # the last request started inside the budget
    # (and, with 1 s of the budget left, was held to it: 1.5 s is too late to count)
    assert len(pods.hosts) == 3 and len(drift.live) == 2


def test_silent_pods_are_reported_and_the_budget_stops_the_scrape():
    now = [0.0]

    def silent(request: httpx.Request) -> httpx.Response:
        now[0] += 2.0  # the per-request deadline's worth, then the connection fails
        raise httpx.ReadTimeout("timed out", request=request)

    client = httpx.Client(transport=httpx.MockTransport(silent))
    ips = tuple(f"10.0.0.{i}" for i in range(40))
    drift = monitoring.scrape(
        "iris", "v1", ips, client=client, clock=lambda: now[0], budget_seconds=5.0
    )
    assert now[0] <= 6.0
    assert drift.live == {} and "budget ran out" in (drift.error or "")
    assert len(drift.error or "") <= 1000
