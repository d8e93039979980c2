"""The default metrics source: scrape every serving pod's /metrics directly.

No Prometheus needed. Each pod's counters are kept per pod in the returned `Snapshot`
(which the state machine stores in status), and the window is the sum over pods of each
pod's delta since the previous scrape — so one restarted pod is one counter reset, handled
for that pod alone, and a pod that appeared since is counted from its start.

Bounded whatever the number of replicas: at most MAX_PODS_SCRAPED pods are scraped (the
first by IP, so the same pods window after window) — a sample of pods is a sample of
requests, which is all the rates and percentiles need — and they are scraped in parallel on
the executor given (the operator's metrics pool, not the tick's), each request bounded by
modelpilot.operator.analysis.fetch. So the snapshot kept in status and the time a window
takes stay small with 3 replicas or 3,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

import httpx

from modelpilot.api.names import SERVING_PORT
from modelpilot.operator.analysis import fetch
from modelpilot.operator.analysis.counts import Counts, Snapshot, bounded, total, window
from modelpilot.operator.analysis.errors import MetricsUnavailable
from modelpilot.operator.analysis.exposition import parse_metrics
from modelpilot.operator.analysis.source import Sample

MAX_PODS_SCRAPED = 16


class PodsMetricsSource:
    """GET http://POD_IP:8080/metrics of each pod; `client` is injectable (a transport)."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        port: int = SERVING_PORT,
        path: str = "/metrics",
        executor: Executor | None = None,
        max_pods: int = MAX_PODS_SCRAPED,
        deadline_seconds: float = fetch.DEADLINE_SECONDS,
        max_bytes: int = fetch.MAX_RESPONSE_BYTES,
    ) -> None:
        self._client = client or fetch.client()
        self._port = port
        self._path = path
        self._executor = executor
        self._max_pods = max_pods
        self._deadline = deadline_seconds
        self._max_bytes = max_bytes

    def query(
        self,
        *,
        namespace: str,
        model: str,
        version: str,
        pod_ips: Sequence[str],
        window_seconds: float,
        previous: Snapshot | None,
    ) -> Sample:
        scraped: dict[str, Counts] = {}
        unreachable: list[str] = []
        failures: list[str] = []
        pod_ips = sorted(pod_ips)[: self._max_pods]
        if self._executor is None:
            answers = [self._try_scrape(ip, model=model, version=version) for ip in pod_ips]
        else:
            futures = [
                self._executor.submit(self._try_scrape, ip, model=model, version=version)
                for ip in pod_ips
            ]
            answers = [f.result() for f in futures]  # each bounded by its deadline
        for ip, answer in zip(pod_ips, answers, strict=True):
            if isinstance(answer, MetricsUnavailable):
                unreachable.append(ip)
                failures.append(str(answer))
            else:
                scraped[ip] = answer
        if pod_ips and not scraped:
            raise MetricsUnavailable(
                f"no {model} {version} pod in {namespace} answered /metrics: " + "; ".join(failures)
            )
        # A pod that did not answer keeps its previous counters, so its next answer is
        # measured from them rather than from its start.
        kept = dict(scraped)
        if previous is not None:
            kept.update({ip: previous.pods[ip] for ip in unreachable if ip in previous.pods})
        snapshot = Snapshot(pods=kept)
        if previous is None:
            return Sample(window=None, snapshot=snapshot, unreachable=tuple(unreachable))
        deltas = total(window(previous.pods.get(ip), counts) for ip, counts in scraped.items())
        return Sample(window=deltas, snapshot=snapshot, unreachable=tuple(unreachable))

    def _try_scrape(self, ip: str, *, model: str, version: str) -> Counts | MetricsUnavailable:
        try:
            return self._scrape(ip, model=model, version=version)
        except MetricsUnavailable as error:
            return error

    def _scrape(self, ip: str, *, model: str, version: str) -> Counts:
        host = f"[{ip}]" if ":" in ip else ip  # IPv6 pod IPs
        url = f"http://{host}:{self._port}{self._path}"
        code, body = fetch.get(
            self._client, url, deadline_seconds=self._deadline, max_bytes=self._max_bytes
        )
        if not 200 <= code <= 299:
            raise MetricsUnavailable(f"{url}: HTTP {code}")
        try:
            versions = parse_metrics(body.decode(errors="replace"), model=model)
        except ValueError as error:
            # The parser's message quotes the page; the page is not ours to show.
            raise MetricsUnavailable(f"{url}: not a Prometheus exposition page") from error
        # A pod that has served nothing yet exports no labelled series at all.
        return bounded(versions.get(version, Counts()))
