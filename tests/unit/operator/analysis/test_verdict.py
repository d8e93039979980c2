import dataclasses
import math

import pytest

from modelpilot.api.spec import Analysis
from modelpilot.operator.analysis import Counts, Limits, VerdictKind, evaluate

LIMITS = Limits(
    max_error_rate=0.01,
    max_client_error_rate_delta=0.05,
    max_latency_p99_ms=250,
    max_prediction_psi=0.25,
    min_requests=20,
)
INF = math.inf
FAST = {0.05: 100, 0.1: 0, INF: 0}  # p99 = 0.05 * 99/100 = 49.5 ms
STABLE = Counts(
    requests={"2xx": 196, "4xx": 4},  # 2 % client errors
    latency={0.05: 200, 0.1: 0, INF: 0},
    predicted_classes={"a": 100, "b": 100},
)


def canary(*, ok=100, client=0, server=0, latency=None, classes=None) -> Counts:
    return Counts(
        requests={"2xx": ok, "4xx": client, "5xx": server},
        latency=latency or FAST,
        predicted_classes=classes or {"a": 50, "b": 50},
    )


@pytest.mark.parametrize(
    ("window", "limits", "kind", "reasons"),
    [
        pytest.param(canary(), LIMITS, VerdictKind.PASS, (), id="healthy-canary-passes"),
        pytest.param(
            canary(ok=12),
            LIMITS,
            VerdictKind.INCONCLUSIVE,
            ("12 canary requests < minRequests 20",),
            id="too-few-requests-is-inconclusive",
        ),
        pytest.param(
            canary(ok=5, server=5),
            LIMITS,
            VerdictKind.INCONCLUSIVE,
            ("10 canary requests < minRequests 20",),
            id="few-requests-even-if-failing",
        ),
        pytest.param(
            None,
            LIMITS,
            VerdictKind.INCONCLUSIVE,
            ("no metrics window yet: the first scrape sets the baseline",),
            id="baseline-only",
        ),
        pytest.param(
            canary(ok=97, server=3),
            LIMITS,
            VerdictKind.FAIL,
            ("error rate 3% > 1%",),
            id="5xx-over-limit",
        ),
        pytest.param(
            canary(ok=99, server=1),
            LIMITS,
            VerdictKind.PASS,
            (),
            id="5xx-at-limit-passes",
        ),
        pytest.param(
            canary(ok=90, client=10),
            LIMITS,
            VerdictKind.FAIL,
            ("4xx rate 10% is 8 points above stable's 2% > 5 points",),
            id="rejects-inputs-stable-accepts",
        ),
        pytest.param(
            canary(ok=94, client=6),
            LIMITS,
            VerdictKind.PASS,
            (),
            id="4xx-close-to-stable-passes",
        ),
        pytest.param(
            canary(latency={0.4: 0, 0.5: 100, INF: 0}),
            LIMITS,
            VerdictKind.FAIL,
            ("p99 499 ms > 250 ms",),
            id="slow-canary",
        ),
        pytest.param(
            canary(classes={"a": 90, "b": 10}),
            LIMITS,
            VerdictKind.FAIL,
            ("prediction PSI 0.879 > 0.25",),
            id="predictions-drifted",
        ),
        pytest.param(
            canary(classes={"a": 90, "b": 10}),
            dataclasses.replace(LIMITS, max_prediction_psi=None),
            VerdictKind.PASS,
            (),
            id="psi-unchecked-without-a-limit",
        ),
        pytest.param(
            canary(ok=80, server=10, client=10, latency={0.25: 0, 0.5: 100, INF: 0}),
            LIMITS,
            VerdictKind.FAIL,
            (
                "error rate 10% > 1%",
                "4xx rate 10% is 8 points above stable's 2% > 5 points",
                "p99 497.5 ms > 250 ms",
            ),
            id="every-failed-check-is-named",
        ),
    ],
)
def test_evaluate(window, limits, kind, reasons):
    verdict = evaluate(window, STABLE, limits)
    assert verdict.kind == kind
    assert verdict.reasons == reasons


def test_measurements_are_recorded_for_status():
    verdict = evaluate(canary(ok=97, server=3), STABLE, LIMITS)
    m = verdict.measurements
    assert (m.canary_requests, m.stable_requests) == (100, 200)
    assert (m.canary_error_rate, m.stable_error_rate) == (0.03, 0.0)
    assert (m.canary_client_error_rate, m.stable_client_error_rate) == (0.0, 0.02)
    assert m.canary_latency_p99_ms == pytest.approx(49.5)
    assert m.stable_latency_p99_ms == pytest.approx(49.5)
    assert m.prediction_psi == pytest.approx(0.0)
    assert verdict.message == "error rate 3% > 1%"
    assert set(dataclasses.asdict(m)) >= {"canary_requests", "canary_latency_p99_ms"}


def test_a_pass_message_gives_the_numbers():
    assert evaluate(canary(), STABLE, LIMITS).message == (
        "within limits: 100 canary requests, error rate 0%, 4xx rate 0%, p99 49.5 ms, "
        "prediction PSI 0"
    )


def test_without_a_stable_window_relative_checks_are_skipped():
    verdict = evaluate(canary(ok=50, client=50, classes={"a": 100}), None, LIMITS)
    assert verdict.kind == VerdictKind.PASS
    assert verdict.measurements.prediction_psi is None


def test_limits_from_the_spec():
    limits = Limits.from_spec(Analysis(maxLatencyP99Ms=100, minRequests=5, maxPredictionPsi=0.2))
    assert limits == dataclasses.replace(
        LIMITS, max_latency_p99_ms=100, min_requests=5, max_prediction_psi=0.2
    )
