"""Each expected value below is worked out by hand in its comment."""

import math

import pytest

from modelpilot.operator.analysis import (
    Counts,
    client_error_rate,
    error_rate,
    histogram_quantile,
    latency_p99_ms,
    prediction_psi,
    psi,
)

INF = math.inf


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        # 100 obs; rank 99 lies in (0.1, 0.2] which holds obs 91..100:
        # 0.1 + (0.2 - 0.1) * (99 - 90) / 10 = 0.19
        pytest.param(0.99, {0.1: 90, 0.2: 10, INF: 0}, 0.19, id="interpolates-in-bucket"),
        # rank 50 in the first bucket, lower bound 0: 0 + 0.01 * 50 / 100 = 0.005
        pytest.param(0.5, {0.01: 100, 0.1: 0, INF: 0}, 0.005, id="first-bucket-from-zero"),
        # rank 99 > 50 observations at or below 0.1: it is in +Inf -> highest finite bound
        pytest.param(0.99, {0.1: 50, INF: 50}, 0.1, id="rank-in-inf-is-top-finite-bound"),
        # cumulative 50, 90, 99, 100; rank 99 reached exactly at 0.5:
        # 0.25 + 0.25 * (99 - 90) / 9 = 0.5
        pytest.param(0.99, {0.1: 50, 0.25: 40, 0.5: 9, INF: 1}, 0.5, id="rank-at-bucket-top"),
        # empty buckets before: (0.25, 0.3] holds all 10; rank 9.9:
        # 0.25 + 0.05 * 9.9 / 10 = 0.2995
        pytest.param(0.99, {0.2: 0, 0.25: 0, 0.3: 10, INF: 0}, 0.2995, id="slow-canary"),
        pytest.param(0.99, {0.1: 0, INF: 0}, None, id="no-observations"),
        pytest.param(0.99, {0.1: 5}, None, id="no-inf-bucket"),
    ],
)
def test_histogram_quantile(q, buckets, expected):
    result = histogram_quantile(q, buckets)
    assert result == (None if expected is None else pytest.approx(expected))


def test_latency_p99_is_in_milliseconds():
    assert latency_p99_ms(Counts(latency={0.1: 90, 0.2: 10, INF: 0})) == pytest.approx(190)
    assert latency_p99_ms(Counts()) is None


@pytest.mark.parametrize(
    ("requests", "expected_5xx", "expected_4xx"),
    [
        pytest.param({"2xx": 194, "4xx": 3, "5xx": 3}, 0.015, 0.015, id="3-of-200-each"),
        pytest.param({"2xx": 50}, 0.0, 0.0, id="all-good"),
        pytest.param({"5xx": 4}, 1.0, 0.0, id="all-failed"),
        pytest.param({}, None, None, id="no-requests-is-undefined-not-zero"),
    ],
)
def test_error_rates(requests, expected_5xx, expected_4xx):
    counts = Counts(requests=requests)
    assert error_rate(counts) == expected_5xx
    assert client_error_rate(counts) == expected_4xx


@pytest.mark.parametrize(
    ("actual", "expected", "value"),
    [
        pytest.param({"a": 10, "b": 30}, {"a": 1, "b": 3}, 0.0, id="same-shares-is-zero"),
        # shares .5/.5 vs .25/.75: .25 ln 2 + (-.25) ln(2/3) = .1732868 + .1013663
        pytest.param({"a": 50, "b": 50}, {"a": 25, "b": 75}, 0.2746531, id="two-classes"),
        # .3/.5/.2 vs .4/.4/.2: -.1 ln .75 + .1 ln 1.25 + 0 = .0287682 + .0223144
        pytest.param(
            {"a": 30, "b": 50, "c": 20},
            {"a": 40, "b": 40, "c": 20},
            0.0510826,
            id="three-classes",
        ),
        # a: (1 - .5) ln 2 = .3465736; b empty on the canary -> 1e-4:
        # (1e-4 - .5) ln(1e-4 / .5) = -.4999 * -8.5171932 = 4.2577449
        pytest.param({"a": 100}, {"a": 50, "b": 50}, 4.6043185, id="empty-bin-uses-epsilon"),
        pytest.param({}, {"a": 1}, None, id="no-canary-predictions"),
        pytest.param({"a": 1}, {}, None, id="no-stable-predictions"),
    ],
)
def test_psi(actual, expected, value):
    result = psi(actual, expected)
    assert result == (None if value is None else pytest.approx(value, abs=1e-6))


def test_prediction_psi_uses_classes_or_else_value_buckets():
    classes = prediction_psi(
        Counts(predicted_classes={"a": 50, "b": 50}), Counts(predicted_classes={"a": 25, "b": 75})
    )
    assert classes == pytest.approx(0.2746531)
    values = prediction_psi(
        Counts(prediction_values={0.0: 50, 10.0: 50, INF: 0}),
        Counts(prediction_values={0.0: 25, 10.0: 75, INF: 0}),
    )
    assert values == pytest.approx(0.2746531)
    assert prediction_psi(Counts(), Counts()) is None
