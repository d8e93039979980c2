"""Every Grafana panel the chart ships returns data from a real Prometheus.

Prometheus is built from the Go module proxy by hack/prometheus/build.sh (`make
prometheus-bin`) and runs on loopback with a config the test writes: the operator's /metrics
as a static target and the serving endpoints as file_sd targets. Here the operator's real
collector is fed the statuses of a canary's life and two real serving registries answer
requests, so the queries meet Prometheus's own semantics (rates, histogram quantiles,
offsets) in under a minute, without a cluster. test_pictures_canary.py runs the same check
over a real canary on the local cluster, with the dashboard page open in Chromium.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from kube import wait_for
from prometheus_harness import (
    PROMETHEUS,
    Prometheus,
    filled,
    has_data,
    panels,
)

pytestmark = pytest.mark.e2e


class Exposition:
    """A /metrics endpoint on loopback serving what `render()` returns at each scrape."""

    def __init__(self, render) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = render()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_every_panel_query_has_data_from_the_operator_s_and_server_s_own_series(tmp_path):
    """Without a cluster: the operator's metrics fed the statuses of a canary's life (the
    real collector), and two real serving registries (v1, v2) answering requests, scraped by
    the real Prometheus. The cluster scenario above proves the wiring; this proves the
    queries against Prometheus's semantics (rates, histograms, offsets) in seconds."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is not built (make prometheus-bin)")
    import numpy as np

    from modelpilot.api.status import (
        AnalysisStatus,
        AnalysisWindow,
        CanaryStatus,
        CandidateState,
        CandidateStatus,
        FeatureDrift,
        ModelDeploymentStatus,
        MonitoringStatus,
        Phase,
        StableStatus,
        Trigger,
    )
    from modelpilot.operator.telemetry import ModelDeploymentFacts, OperatorMetrics
    from modelpilot.serving.metrics import ServingMetrics

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    operator_metrics = OperatorMetrics()
    versions = {
        v: ServingMetrics(model="iris", version=v, task="classification", classes=[0, 1, 2])
        for v in ("v1", "v2")
    }
    stop = threading.Event()

    def serve_requests() -> None:  # both versions answer, v2 with a few 500s
        rng = np.random.default_rng(0)
        while not stop.wait(0.05):
            versions["v1"].observe_request("v1", 200, float(rng.uniform(0.001, 0.02)))
            versions["v2"].observe_request("v1", 200 if rng.random() > 0.1 else 500, 0.01)

    operator_endpoint = Exposition(operator_metrics.render)
    serving = [Exposition(m.render) for m in versions.values()]
    threading.Thread(target=serve_requests, daemon=True).start()
    prometheus = Prometheus(tmp_path, operator_endpoint.address, "ml")
    prometheus.write_targets([e.address for e in serving])
    stable = StableStatus(revision="v1", model_sha256="a", deployment="iris-v1", service="iris")

    def candidate(revision: str, state: CandidateState) -> CandidateStatus:
        return CandidateStatus(
            revision=revision,
            state=state,
            trigger=Trigger.SPEC_CHANGED,
            spec_hash="h",
            job=f"iris-train-{revision}",
            started_at=t0,
            metric="accuracy",
            candidate_score=0.95,
        )

    def window(minute: int, verdict: str) -> AnalysisWindow:
        return AnalysisWindow(started_at=t0.replace(minute=minute), verdict=verdict)

    drift = MonitoringStatus(worst=[FeatureDrift(feature="petal_length", psi=0.4)])
    life = [  # the statuses a canary's life goes through, each held until scraped
        ModelDeploymentStatus(
            phase=Phase.TRAINING, candidate=candidate("v1", CandidateState.TRAINING)
        ),
        ModelDeploymentStatus(
            phase=Phase.SERVING,
            stable=stable,
            monitoring=drift,
            candidate=candidate("v1", CandidateState.PROMOTED),
        ),
        ModelDeploymentStatus(
            phase=Phase.TRAINING,
            stable=stable,
            monitoring=drift,
            candidate=candidate("v2", CandidateState.TRAINING),
        ),
        ModelDeploymentStatus(
            phase=Phase.CANARY,
            stable=stable,
            monitoring=drift,
            candidate=candidate("v2", CandidateState.CANARY),
            canary=CanaryStatus(revision="v2", weight=50),
        ),
        ModelDeploymentStatus(
            phase=Phase.CANARY,
            stable=stable,
            monitoring=drift,
            candidate=candidate("v2", CandidateState.CANARY),
            canary=CanaryStatus(
                revision="v2", weight=50, analysis=AnalysisStatus(windows=[window(1, "Passed")])
            ),
        ),
        ModelDeploymentStatus(
            phase=Phase.CANARY,
            stable=stable,
            monitoring=drift,
            candidate=candidate("v2", CandidateState.CANARY),
            canary=CanaryStatus(
                revision="v2",
                weight=50,
                analysis=AnalysisStatus(windows=[window(2, "Failed"), window(1, "Passed")]),
            ),
        ),
        ModelDeploymentStatus(
            phase=Phase.ROLLED_BACK,
            stable=stable,
            monitoring=drift,
            candidate=candidate("v2", CandidateState.ROLLED_BACK),
        ),
    ]
    started = time.time()
    try:
        for at, status in enumerate(life):
            recorded = time.time()
            operator_metrics.model_deployments.record(
                "ml",
                "iris",
                ModelDeploymentFacts.from_status(status, psi_threshold=0.25),
                now=time.monotonic(),
            )
            # Three scrapes of this step, so the rates over it have their samples.
            scraped = f'max(timestamp(up{{job="operator"}})) > {recorded + 3}'
            wait_for(
                lambda: prometheus.query(scraped),  # noqa: B023 - called at once
                timeout=30,
                what=f"Prometheus scraping step {at} ({status.phase.value})",
            )
        end = time.time()
        empty = [
            f"{board} / {title}: {expr}"
            for board, title, expr in panels()
            if not has_data(prometheus.query_range(filled(expr, "ml"), started, end))
        ]
        assert not empty, "queries without data:\n" + "\n".join(empty)
    finally:
        stop.set()
        prometheus.stop()
        operator_endpoint.stop()
        for each in serving:
            each.stop()
