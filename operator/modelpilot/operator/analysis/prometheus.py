"""The second metrics source: ask Prometheus for the window's increases.

Four instant queries, one per counter family, each `increase()` over the window and summed
by the label analysis needs; the same `evaluate` then judges them, so p99 from Prometheus
equals `histogram_quantile(0.99, sum by (le) (increase(..._bucket[window])))`. The queries
are templates (`string.Template`: $namespace, $model, $version, $window) so a platform whose
scrape config names labels differently can say so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

import httpx

from modelpilot.api import serving_metrics as names
from modelpilot.operator.analysis import fetch
from modelpilot.operator.analysis.counts import (
    Counts,
    Snapshot,
    bounded,
    code_class,
    per_bucket,
)
from modelpilot.operator.analysis.errors import MetricsSpecError, MetricsUnavailable
from modelpilot.operator.analysis.source import Sample

_SELECTOR = 'namespace="$namespace",model="$model",version="$version"'


@dataclass(frozen=True, slots=True, kw_only=True)
class PrometheusQueries:
    """PromQL templates; each must return an instant vector grouped by the named label."""

    requests: str = f"sum by (code) (increase({names.REQUESTS_TOTAL}{{{_SELECTOR}}}[$window]))"
    latency: str = (
        f"sum by (le) (increase({names.REQUEST_DURATION}_bucket{{{_SELECTOR}}}[$window]))"
    )
    predicted_classes: str = (
        f"sum by (class) (increase({names.PREDICTIONS_TOTAL}{{{_SELECTOR}}}[$window]))"
    )
    prediction_values: str = (
        f"sum by (le) (increase({names.PREDICTION_VALUE}_bucket{{{_SELECTOR}}}[$window]))"
    )

    def render(
        self, template: str, *, namespace: str, model: str, version: str, window_seconds: float
    ) -> str:
        try:
            return Template(template).substitute(
                namespace=_label_value(namespace),
                model=_label_value(model),
                version=_label_value(version),
                window=promql_duration(window_seconds),
            )
        except (KeyError, ValueError) as error:
            raise MetricsSpecError(f"bad query template {template!r}: {error}") from error


class PrometheusMetricsSource:
    def __init__(
        self,
        address: str,
        *,
        queries: PrometheusQueries | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self._url = address.rstrip("/") + "/api/v1/query"
        self._queries = queries or PrometheusQueries()
        self._client = client or fetch.client()

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
        def run(template: str, label: str) -> dict[str, float]:
            promql = self._queries.render(
                template,
                namespace=namespace,
                model=model,
                version=version,
                window_seconds=window_seconds,
            )
            return self._vector(promql, label)

        q = self._queries
        requests: dict[str, float] = {}
        for code, value in run(q.requests, "code").items():
            requests[code_class(code)] = requests.get(code_class(code), 0.0) + value
        counts = bounded(
            Counts(
                requests=requests,
                latency=per_bucket(_bounds(run(q.latency, "le"))),
                predicted_classes=run(q.predicted_classes, "class"),
                prediction_values=per_bucket(_bounds(run(q.prediction_values, "le"))),
            )
        )
        return Sample(window=counts)

    def _vector(self, promql: str, label: str) -> dict[str, float]:
        code, raw = fetch.get(self._client, self._url, params={"query": promql})
        try:
            body: dict[str, Any] = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            raise MetricsUnavailable(
                f"Prometheus query {promql!r}: HTTP {code}, not a Prometheus API answer"
            ) from error
        if body.get("status") != "success":
            # errorType is one of Prometheus' few words; its free-text error and the body
            # are the endpoint's to write, not ours to copy into status.
            kind = str(body.get("errorType", "unknown"))[:40]
            message = f"Prometheus refused {promql!r}: HTTP {code}, errorType {kind}"
            if body.get("errorType") == "bad_data":
                raise MetricsSpecError(message)
            raise MetricsUnavailable(message)
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise MetricsUnavailable(f"Prometheus query {promql!r}: a malformed answer")
        if data.get("resultType") != "vector":
            raise MetricsSpecError(
                f"Prometheus query {promql!r} returned a {data.get('resultType')}, "
                "not an instant vector"
            )
        out: dict[str, float] = {}
        for series in data.get("result") or []:
            try:
                value = float(series["value"][1])
                key = str(series["metric"].get(label, ""))
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
                raise MetricsUnavailable(
                    f"Prometheus query {promql!r}: a malformed series in the answer"
                ) from error
            if math.isnan(value):  # increase() over a series with one point
                continue
            out[key] = out.get(key, 0.0) + value
        return out


def promql_duration(seconds: float) -> str:
    """A PromQL range: whole seconds as "15s", anything finer in milliseconds."""
    if seconds <= 0:
        raise ValueError(f"window must be positive, got {seconds}")
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _bounds(by_le: dict[str, float]) -> dict[float, float]:
    return {float(le): count for le, count in by_le.items()}
