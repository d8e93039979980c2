"""The default metrics source: scrape every serving pod's /metrics directly.

No Prometheus needed. Each pod's counters are kept per pod in the returned `Snapshot`
(which the state machine stores in status), and the window is the sum over pods of each
pod's delta since the previous scrape — so one restarted pod is one counter reset, handled
for that pod alone, and a pod that appeared since is counted from its start.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from modelpilot.api.names import SERVING_PORT
from modelpilot.operator.analysis.counts import Counts, Snapshot, total, window
from modelpilot.operator.analysis.errors import MetricsUnavailable
from modelpilot.operator.analysis.exposition import parse_metrics
from modelpilot.operator.analysis.source import Sample

SCRAPE_TIMEOUT_SECONDS = 2.0


class PodsMetricsSource:
    """GET http://POD_IP:8080/metrics of each pod; `client` is injectable (a transport)."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        port: int = SERVING_PORT,
        path: str = "/metrics",
    ) -> None:
        self._client = client or httpx.Client(timeout=SCRAPE_TIMEOUT_SECONDS)
        self._port = port
        self._path = path

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
        for ip in pod_ips:
            try:
                scraped[ip] = self._scrape(ip, model=model, version=version)
            except MetricsUnavailable as error:
                unreachable.append(ip)
                failures.append(str(error))
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

    def _scrape(self, ip: str, *, model: str, version: str) -> Counts:
        host = f"[{ip}]" if ":" in ip else ip  # IPv6 pod IPs
        url = f"http://{host}:{self._port}{self._path}"
        try:
            response = self._client.get(url)
            response.raise_for_status()
            versions = parse_metrics(response.text, model=model)
        except (httpx.HTTPError, ValueError) as error:
            raise MetricsUnavailable(f"{url}: {error}") from error
        # A pod that has served nothing yet exports no labelled series at all.
        return versions.get(version, Counts())
