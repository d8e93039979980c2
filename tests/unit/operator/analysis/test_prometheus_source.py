"""The Prometheus source against an in-process Prometheus HTTP API (httpx.MockTransport)."""

import math

import httpx
import pytest

from modelpilot.operator.analysis import MetricsSpecError, MetricsUnavailable
from modelpilot.operator.analysis.prometheus import (
    PrometheusMetricsSource,
    PrometheusQueries,
    promql_duration,
)


def vector(label: str, values: dict[str, str]) -> dict:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {label: key}, "value": [1700000000.0, value]}
                for key, value in values.items()
            ],
        },
    }


ANSWERS = {
    "modelpilot_requests_total": vector("code", {"200": "95.5", "201": "2.5", "503": "2"}),
    "modelpilot_request_duration_seconds_bucket": vector(
        "le", {"0.1": "90", "0.2": "100", "+Inf": "100"}
    ),
    "modelpilot_predictions_total": vector("class", {"setosa": "60", "virginica": "NaN"}),
    "modelpilot_prediction_value_bucket": vector("le", {}),
}


def prometheus(answers=ANSWERS, status=200, queries_config=None):
    queries: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query"
        promql = request.url.params["query"]
        queries.append(promql)
        metric = next(name for name in answers if f"{name}{{" in promql)
        return httpx.Response(status, json=answers[metric])

    client = httpx.Client(transport=httpx.MockTransport(handle))
    source = PrometheusMetricsSource(
        "http://prometheus:9090/", queries=queries_config, client=client
    )
    return source, queries


def query(source):
    return source.query(
        namespace="ml",
        model="iris",
        version="v2",
        pod_ips=(),
        window_seconds=30,
        previous=None,
    )


def test_increases_become_a_window_judged_like_the_pods_ones():
    source, queries = prometheus()
    sample = query(source)
    assert sample.snapshot is None
    window = sample.window
    assert window.requests == {"2xx": 98.0, "5xx": 2.0}
    assert window.latency == {0.1: 90.0, 0.2: 10.0, math.inf: 0.0}  # cumulative -> per bucket
    assert window.predicted_classes == {"setosa": 60.0}  # NaN series skipped
    assert window.prediction_values == {}
    assert queries[0] == (
        'sum by (code) (increase(modelpilot_requests_total{namespace="ml",model="iris",'
        'version="v2"}[30s]))'
    )


def test_queries_are_configurable_templates():
    custom = PrometheusQueries(
        requests="sum by (code) (increase(modelpilot_requests_total{kubernetes_namespace="
        '"$namespace",model="$model",version="$version"}[$window]))'
    )
    source, queries = prometheus(queries_config=custom)
    query(source)
    assert 'kubernetes_namespace="ml"' in queries[-4]


def test_a_bad_template_is_a_spec_error():
    source, _ = prometheus(queries_config=PrometheusQueries(requests='sum(up{job="$job"})'))
    with pytest.raises(MetricsSpecError, match="bad query template"):
        query(source)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        pytest.param(
            400,
            {"status": "error", "errorType": "bad_data", "error": "parse error"},
            MetricsSpecError,
            id="bad-promql-is-permanent",
        ),
        pytest.param(
            503,
            {"status": "error", "errorType": "unavailable", "error": "overloaded"},
            MetricsUnavailable,
            id="overloaded-is-retryable",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
            MetricsSpecError,
            id="range-vector-is-a-spec-error",
        ),
    ],
)
def test_prometheus_errors(status, body, error):
    answers = dict.fromkeys(ANSWERS, body)
    source, _ = prometheus(answers, status)
    with pytest.raises(error):
        query(source)


def test_unreachable_prometheus_is_unavailable():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    source = PrometheusMetricsSource(
        "http://prometheus:9090", client=httpx.Client(transport=httpx.MockTransport(refuse))
    )
    with pytest.raises(MetricsUnavailable, match="refused"):
        query(source)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(15, "15s"), (60.0, "60s"), (1.5, "1500ms"), (0.25, "250ms")],
)
def test_promql_duration(seconds, expected):
    assert promql_duration(seconds) == expected
