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

    def value(self, promql: str) -> float | None:
        """One number from an instant query (spec.rollout.analysis.metrics): a scalar, or a
        vector of one series; None when the vector is empty (no data this window).

        More than one series is a spec error: a check compares one number with its range.
        """
        data = self._answer(promql)
        kind, result = data.get("resultType"), data.get("result")
        try:
            if kind == "scalar":
                number = float(result[1])  # type: ignore[index]
            elif kind == "vector":
                series = result or []
                if not series:
                    return None
                if len(series) > 1:
                    raise MetricsSpecError(
                        f"Prometheus query {promql!r} returned {len(series)} series; a check "
                        "needs one number (aggregate it, e.g. with sum())"
                    )
                number = float(series[0]["value"][1])
            else:
                raise MetricsSpecError(
                    f"Prometheus query {promql!r} returned a {kind}, not a scalar or an "
                    "instant vector"
                )
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise MetricsUnavailable(f"Prometheus query {promql!r}: a malformed answer") from error
        return None if math.isnan(number) else number

    def _answer(self, promql: str) -> dict[str, Any]:
        """The `data` of a successful query; MetricsError otherwise."""
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
        return data

    def _vector(self, promql: str, label: str) -> dict[str, float]:
        data = self._answer(promql)
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


def render_check(
    query: str, *, namespace: str, model: str, canary: str, stable: str, window_seconds: float
) -> str:
    """A spec.rollout.analysis.metrics query with its placeholders filled in (label values
    escaped): $namespace, $model, $canary, $stable, $window; `$$` is a literal `$`."""
    try:
        return Template(query).substitute(
            namespace=_label_value(namespace),
            model=_label_value(model),
            canary=_label_value(canary),
            stable=_label_value(stable),
            window=promql_duration(window_seconds),
        )
    except (KeyError, ValueError) as error:
        raise MetricsSpecError(
            f"query {query[:200]!r}: unknown placeholder {error} (use $namespace, $model, "
            "$canary, $stable, $window; $$ for a literal $)"
        ) from error


def promql_duration(seconds: float) -> str:
    """A PromQL range: whole seconds as "15s", anything finer in milliseconds."""
    if seconds <= 0:
        raise ValueError(f"window must be positive, got {seconds}")
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _bounds(by_le: dict[str, float]) -> dict[float, float]:
    return {float(le): count for le, count in by_le.items()}
