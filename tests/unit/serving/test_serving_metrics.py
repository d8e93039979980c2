"""/metrics exports, under the names canary analysis parses, counts per version and code."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import running

from modelpilot.api import serving_metrics as names


def samples(url: str) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(f"{url}/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_requests_latency_and_classes_are_counted_per_version(iris_bundle):
    settings = iris_bundle.settings(model_version="v3")
    rows = iris_bundle.X[[0, 1, 50, 100]].tolist()  # classes 0, 0, 1, 2
    with running(settings) as (url, _):
        for _ in range(3):
            assert (
                httpx.post(f"{url}/v1/models/iris:predict", json={"instances": rows}).status_code
                == 200
            )
        body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": rows[0]}]}
        assert httpx.post(f"{url}/v2/models/iris/infer", json=body).status_code == 200
        assert (
            httpx.post(f"{url}/v1/models/iris:predict", json={"instances": []}).status_code == 400
        )
        got = samples(url)

    def labels(**kw):
        return frozenset({names.LABEL_MODEL: "iris", names.LABEL_VERSION: "v3", **kw}.items())

    requests = names.REQUESTS_TOTAL
    assert got[(requests, labels(protocol="v1", code="200"))] == 3
    assert got[(requests, labels(protocol="v2", code="200"))] == 1
    assert got[(requests, labels(protocol="v1", code="400"))] == 1
    duration = names.REQUEST_DURATION
    assert got[(f"{duration}_count", labels(protocol="v1"))] == 4
    assert got[(f"{duration}_bucket", labels(protocol="v1", le="+Inf"))] == 4
    le = {dict(k[1]).get("le") for k in got if k[0] == f"{duration}_bucket"}
    assert {str(b) for b in names.DURATION_BUCKETS} <= le
    predictions = names.PREDICTIONS_TOTAL
    assert got[(predictions, labels(**{names.LABEL_CLASS: "0"}))] == 3 * 2 + 1
    assert got[(predictions, labels(**{names.LABEL_CLASS: "1"}))] == 3
    assert got[(predictions, labels(**{names.LABEL_CLASS: "2"}))] == 3


def test_regression_exports_a_histogram_of_predicted_values(regression_server, regression_bundle):
    url, _ = regression_server
    rows = regression_bundle.X[:7].tolist()
    before = samples(url).get(
        (f"{names.PREDICTION_VALUE}_count", frozenset({"model": "house", "version": "v1"}.items())),
        0,
    )
    assert httpx.post(f"{url}/v1/models/house:predict", json={"instances": rows}).status_code == 200
    after = samples(url)[
        (f"{names.PREDICTION_VALUE}_count", frozenset({"model": "house", "version": "v1"}.items()))
    ]
    assert after - before == 7


def test_two_apps_in_one_process_do_not_share_counts(iris_bundle):
    with (
        running(iris_bundle.settings(model_version="a")) as (url_a, _),
        running(iris_bundle.settings(model_version="a")) as (url_b, _),
    ):
        httpx.post(f"{url_a}/v1/models/iris:predict", json={"instances": [[1, 2, 3, 4]]})
        key = (
            names.REQUESTS_TOTAL,
            frozenset({"model": "iris", "version": "a", "protocol": "v1", "code": "200"}.items()),
        )
        assert samples(url_a)[key] == 1
        assert samples(url_b)[key] == 0
