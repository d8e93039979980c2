"""What stays bounded: a tenant's endpoint that trickles or floods costs a bounded time and
memory, never shows up verbatim in status, and status stays small whatever the number of
classes and replicas."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from metrics_pages import render_metrics

from modelpilot.api.status import (
    AnalysisStatus,
    CanaryStatus,
    ModelDeploymentStatus,
    dump_status,
)
from modelpilot.operator.analysis import MetricsUnavailable, fetch
from modelpilot.operator.analysis.counts import MAX_CLASSES, Counts, bounded
from modelpilot.operator.analysis.pods import MAX_PODS_SCRAPED, PodsMetricsSource
from modelpilot.operator.analysis.prometheus import PrometheusMetricsSource

SECRET = "tenant-wrote-this-4c1d"


class Loopback:
    """A raw TCP server on 127.0.0.1 answering every connection with `answer(conn)`."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                with contextlib.suppress(OSError):
                    self.answer(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], Loopback]]:
    servers: list[Loopback] = []

    def start(answer: Callable[[socket.socket], None]) -> Loopback:
        servers.append(Loopback(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def trickle(stop: threading.Event) -> Callable[[socket.socket], None]:
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        # A byte every 0.1 s, never a read timeout, never done: the endpoint's pace, not a
        # wait for the test's result (the waiting is the client's deadline under test).
        while not stop.wait(0.1):
            conn.sendall(SECRET[:1].encode())

    return answer


def test_a_trickling_endpoint_is_cut_at_the_deadline(serve) -> None:
    server = serve(trickle(threading.Event()))
    with fetch.client() as http:
        started = time.monotonic()
        with pytest.raises(MetricsUnavailable, match=r"no complete answer within 0\.5s") as err:
            fetch.get(http, f"http://127.0.0.1:{server.port}/metrics", deadline_seconds=0.5)
        assert time.monotonic() - started < 0.5 + fetch.READ_TIMEOUT_SECONDS
    assert SECRET not in str(err.value)
    server.stop.set()


def test_a_huge_declared_body_is_refused_before_reading(serve) -> None:
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n" + b"x" * 1000)

    server = serve(answer)
    with fetch.client() as http, pytest.raises(MetricsUnavailable, match="over the 1000-byte"):
        fetch.get(http, f"http://127.0.0.1:{server.port}/", max_bytes=1000)


def test_a_huge_chunked_body_is_cut_at_the_limit(serve) -> None:
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = (SECRET * 100).encode()
        for _ in range(10_000):  # 22 MB if anyone read it all
            conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")

    server = serve(answer)
    with fetch.client() as http, pytest.raises(MetricsUnavailable) as err:
        fetch.get(http, f"http://127.0.0.1:{server.port}/", max_bytes=64 * 1024)
    assert "over the 65536-byte limit" in str(err.value) and SECRET not in str(err.value)


def test_a_slow_pod_does_not_hold_the_others_and_costs_one_deadline(serve) -> None:
    stop = threading.Event()
    slow = serve(trickle(stop))
    page = render_metrics(version="v2", requests=[("v1", "200", 5)]).encode()

    def fast(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(page) + page)

    quick = serve(fast)
    with fetch.client() as http, ThreadPoolExecutor(4) as pool:
        # Two "pods" would need two addresses; their ports differ instead, so each gets its
        # own source on the same client and pool.
        slow_source = PodsMetricsSource(http, executor=pool, deadline_seconds=0.5, port=slow.port)
        fast_source = PodsMetricsSource(http, executor=pool, port=quick.port)
        started = time.monotonic()
        with pytest.raises(MetricsUnavailable) as err:
            slow_source.query(
                namespace="ml",
                model="iris",
                version="v2",
                pod_ips=["127.0.0.1"],
                window_seconds=15,
                previous=None,
            )
        assert time.monotonic() - started < 3
        assert SECRET not in str(err.value)
        sample = fast_source.query(
            namespace="ml",
            model="iris",
            version="v2",
            pod_ips=["127.0.0.1"],
            window_seconds=15,
            previous=None,
        )
        assert sample.snapshot is not None and "127.0.0.1" in sample.snapshot.pods
    stop.set()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param(
            httpx.Response(502, text=f"<html>{SECRET}</html>"),
            "not a Prometheus API answer",
            id="html-error-page",
        ),
        pytest.param(
            httpx.Response(200, json={"status": "success", "data": ["not", "a", "dict"]}),
            "malformed answer",
            id="data-is-not-an-object",
        ),
        pytest.param(
            httpx.Response(
                200,
                json={
                    "status": "success",
                    "data": {"resultType": "vector", "result": [{"value": "x"}]},
                },
            ),
            "malformed series",
            id="series-without-metric",
        ),
        pytest.param(
            httpx.Response(
                422, json={"status": "error", "errorType": "execution", "error": SECRET}
            ),
            "errorType execution",
            id="an-error-text-is-not-copied",
        ),
    ],
)
def test_a_malformed_prometheus_answer_is_unavailable_and_never_quoted(answer, expected):
    client = httpx.Client(transport=httpx.MockTransport(lambda request: answer))
    source = PrometheusMetricsSource("http://prom:9090", client=client)
    with pytest.raises(MetricsUnavailable, match=expected) as err:
        source.query(
            namespace="ml", model="iris", version="v2", pod_ips=(), window_seconds=15, previous=None
        )
    assert SECRET not in str(err.value)


def test_status_stays_small_with_10000_classes_and_500_replicas() -> None:
    classes = [(f"class-{i:05d}", 1 + i % 7) for i in range(10_000)]
    page = render_metrics(version="v2", requests=[("v1", "200", 70_000)], classes=classes)
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, text=page)))
    ips = [f"10.0.{i // 250}.{i % 250}" for i in range(500)]
    # Parsing a 10,000-class page takes a while: two pods prove the cap, one pod's counters
    # copied to MAX_PODS_SCRAPED pods the size.
    sample = PodsMetricsSource(client, max_pods=2).query(
        namespace="ml",
        model="iris",
        version="v2",
        pod_ips=ips,
        window_seconds=15,
        previous=None,
    )
    assert sample.snapshot is not None
    assert sorted(sample.snapshot.pods) == sorted(ips)[:2]
    counts = next(iter(sample.snapshot.pods.values()))
    assert len(counts.predicted_classes) <= MAX_CLASSES
    assert sum(counts.predicted_classes.values()) == sum(n for _, n in classes)
    one_pod = counts.to_status()
    snapshot = {ip: one_pod for ip in sorted(ips)[:MAX_PODS_SCRAPED]}
    status = ModelDeploymentStatus(
        canary=CanaryStatus(
            revision="v2",
            analysis=AnalysisStatus(canary_snapshot=snapshot, stable_snapshot=snapshot),
        )
    )
    size = len(json.dumps(dump_status(status)))
    assert size < 128 * 1024, size  # etcd's limit is 1.5 MiB


def test_at_most_max_pods_are_scraped_the_same_ones_each_time() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(200, text="")

    source = PodsMetricsSource(httpx.Client(transport=httpx.MockTransport(answer)))
    ips = [f"10.1.{i // 250}.{i % 250}" for i in range(500)]
    for _ in range(2):
        source.query(
            namespace="ml",
            model="iris",
            version="v2",
            pod_ips=list(reversed(ips)),
            window_seconds=15,
            previous=None,
        )
    assert seen == sorted(ips)[:MAX_PODS_SCRAPED] * 2


def test_folding_is_the_same_for_every_pod_and_version() -> None:
    many = Counts(predicted_classes={f"c{i}": 1.0 for i in range(1000)})
    assert bounded(many) == bounded(
        Counts(predicted_classes=dict(reversed(list(many.predicted_classes.items()))))
    )
    few = Counts(predicted_classes={"setosa": 3.0, "virginica": 1.0})
    assert bounded(few) == few
