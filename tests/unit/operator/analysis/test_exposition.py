import math

import pytest
from metrics_pages import render_metrics

from modelpilot.api.serving_metrics import DURATION_BUCKETS
from modelpilot.operator.analysis import parse_metrics


def test_a_real_metrics_page_parses_into_per_version_counters():
    text = render_metrics(
        requests=[("v1", "200", 8), ("v2", "200", 2), ("v1", "404", 1), ("v2", "503", 1)],
        latencies=[0.004, 0.004, 0.02, 0.3, 12.0],
        classes=[("setosa", 5), ("versicolor", 3)],
    ) + render_metrics(model="iris", version="v2", requests=[("v1", "200", 4)])

    counts = parse_metrics(text, model="iris")

    assert set(counts) == {"v1", "v2"}
    v1 = counts["v1"]
    assert v1.requests == {"2xx": 10, "4xx": 1, "5xx": 1}  # protocols summed, codes classed
    assert v1.predicted_classes == {"setosa": 5, "versicolor": 3}
    assert set(v1.latency) == {*DURATION_BUCKETS, math.inf}  # every bound kept
    assert {b: n for b, n in v1.latency.items() if n} == {0.005: 2, 0.025: 1, 0.3: 1, math.inf: 1}
    assert counts["v2"].requests == {"2xx": 4}


def test_regression_prediction_buckets():
    counts = parse_metrics(render_metrics(values=[-3.0, 4.0, 4.5, 95.0, 250.0]))["v1"]
    assert {b: n for b, n in counts.prediction_values.items() if n} == {
        0.0: 1,
        10.0: 2,
        100.0: 1,
        math.inf: 1,
    }
    assert counts.predicted_classes == {}


def test_other_models_and_unrelated_metrics_are_ignored():
    text = render_metrics(model="wine", requests=[("v1", "200", 3)])
    text += "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n"
    assert parse_metrics(text, model="iris") == {}
    assert set(parse_metrics(text)) == {"v1"}


def test_a_server_that_served_nothing_yet_has_no_versions():
    assert parse_metrics(render_metrics()) == {}


def test_garbage_is_a_value_error():
    with pytest.raises(ValueError):
        parse_metrics("modelpilot_requests_total{model= 12 12 12\n")


def test_grpc_requests_and_errors_count_beside_rest_ones():
    """The server counts gRPC calls under the same names with protocol="grpc"; the analysis
    sums every protocol, so a canary failing only its gRPC clients is still caught."""
    from modelpilot.serving.metrics import ServingMetrics

    served = ServingMetrics(model="iris", version="v2", task="regression")
    for protocol, code in (("v2", 200), ("grpc", 200), ("grpc", 400), ("grpc", 503)):
        served.observe_request(protocol, code, 0.002)
    text = served.render().decode()
    assert 'protocol="grpc"' in text
    assert parse_metrics(text, model="iris")["v2"].requests == {"2xx": 2, "4xx": 1, "5xx": 1}
