"""spec.rollout.analysis.metrics: your own PromQL checks, judged with the built-in ones.

The spec's rules, the judgement (pure), the Prometheus answer read as one number, the
placeholders, and a canary rolled back by a check, its name in the reason."""

from __future__ import annotations

import copy
import dataclasses

import httpx
import pytest
from canary_walk import HEALTHY, SETTINGS, SPEC, FakeMetrics, Walk
from pydantic import ValidationError

from modelpilot.api.spec import AnalysisMetric, parse_spec
from modelpilot.operator.analysis import MetricsSpecError
from modelpilot.operator.analysis.prometheus import PrometheusMetricsSource, render_check
from modelpilot.operator.analysis.verdict import (
    AnalysisVerdict,
    Limits,
    VerdictKind,
    evaluate,
    judge_metrics,
)

PROMETHEUS = "http://prometheus.monitoring:9090"
LIMITS = Limits(
    max_error_rate=0.01,
    max_client_error_rate_delta=0.05,
    max_latency_p99_ms=250,
    max_prediction_psi=None,
    min_requests=10,
)


def check(name: str, low: float | None = None, high: float | None = None) -> AnalysisMetric:
    bounds = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
    return AnalysisMetric.model_validate(
        {"name": name, "query": "sum(x)", "thresholdRange": bounds}
    )


def spec_with(metrics: list[dict], source: dict | None = None) -> dict:
    raw = copy.deepcopy(SPEC)
    raw["rollout"]["analysis"]["metrics"] = metrics
    if source is not None:
        raw["rollout"]["analysis"]["metricsSource"] = source
    return raw


# --- the spec --------------------------------------------------------------------------------


def test_checks_need_the_prometheus_source():
    with pytest.raises(ValidationError, match=r"metricsSource\.prometheus\.address"):
        parse_spec(spec_with([{"name": "a", "query": "1", "thresholdRange": {"max": 1}}]))


def test_a_check_needs_a_bound_and_a_consistent_range_and_a_unique_name():
    source = {"prometheus": {"address": PROMETHEUS}}
    with pytest.raises(ValidationError, match="thresholdRange needs min, max or both"):
        parse_spec(spec_with([{"name": "a", "query": "1", "thresholdRange": {}}], source))
    with pytest.raises(ValidationError, match=r"min 2\.0 is above max 1\.0"):
        parse_spec(
            spec_with([{"name": "a", "query": "1", "thresholdRange": {"min": 2, "max": 1}}], source)
        )
    twice = [{"name": "a", "query": "1", "thresholdRange": {"max": 1}}] * 2
    with pytest.raises(ValidationError, match="names must be unique: a"):
        parse_spec(spec_with(twice, source))


# --- the judgement ---------------------------------------------------------------------------


def healthy() -> AnalysisVerdict:
    return evaluate(HEALTHY, HEALTHY, LIMITS)


def test_every_check_in_range_passes_and_the_values_are_kept():
    verdict = judge_metrics(healthy(), [check("budget", high=0.05)], {"budget": 0.05})
    assert verdict.kind is VerdictKind.PASS
    assert verdict.metrics == (("budget", 0.05),)
    assert verdict.message.endswith(", budget 0.05")


def test_a_value_out_of_range_fails_the_window_naming_the_check():
    checks = [check("budget", high=0.05), check("conversion", low=0.2)]
    verdict = judge_metrics(healthy(), checks, {"budget": 0.12, "conversion": 0.1})
    assert verdict.kind is VerdictKind.FAIL
    assert verdict.reasons == ("metric budget 0.12 > max 0.05", "metric conversion 0.1 < min 0.2")


def test_a_check_fails_even_when_too_few_requests_leave_the_rest_inconclusive():
    quiet = evaluate(None, None, LIMITS)
    assert quiet.kind is VerdictKind.INCONCLUSIVE
    verdict = judge_metrics(quiet, [check("budget", high=0.05)], {"budget": 1.0})
    assert (verdict.kind, verdict.reasons) == (VerdictKind.FAIL, ("metric budget 1 > max 0.05",))


def test_a_check_without_data_is_inconclusive_never_a_pass():
    verdict = judge_metrics(healthy(), [check("budget", high=0.05)], {"budget": None})
    assert (verdict.kind, verdict.reasons) == (
        VerdictKind.INCONCLUSIVE,
        ("metric budget: no data",),
    )


def test_a_built_in_failure_stays_a_failure_with_its_own_reasons():
    slow = dataclasses.replace(LIMITS, max_latency_p99_ms=1)
    failed = evaluate(HEALTHY, HEALTHY, slow)
    verdict = judge_metrics(failed, [check("budget", high=0.05)], {"budget": None})
    assert verdict.kind is VerdictKind.FAIL and verdict.reasons == failed.reasons


# --- Prometheus ------------------------------------------------------------------------------


def source_answering(data: dict) -> tuple[PrometheusMetricsSource, list[str]]:
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["query"])
        return httpx.Response(200, json={"status": "success", "data": data})

    client = httpx.Client(transport=httpx.MockTransport(handle))
    return PrometheusMetricsSource(PROMETHEUS, client=client), asked


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"resultType": "scalar", "result": [1.0, "0.25"]}, 0.25),
        ({"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "3"]}]}, 3.0),
        ({"resultType": "vector", "result": []}, None),
        ({"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "NaN"]}]}, None),
    ],
)
def test_a_check_reads_one_number(data, expected):
    source, asked = source_answering(data)
    assert source.value("sum(up)") == expected
    assert asked == ["sum(up)"]


def test_more_than_one_series_is_a_spec_error():
    series = [{"metric": {"pod": p}, "value": [1.0, "1"]} for p in ("a", "b")]
    source, _ = source_answering({"resultType": "vector", "result": series})
    with pytest.raises(MetricsSpecError, match="returned 2 series; a check needs one number"):
        source.value("up")


def test_placeholders_are_filled_and_an_unknown_one_is_a_spec_error():
    query = 'sum(rate(x{namespace="$namespace",model="$model",version="$canary"}[$window]))'
    rendered = render_check(
        query + " / $stable $$",
        namespace="ml",
        model="iris",
        canary="v2",
        stable="v1",
        window_seconds=30,
    )
    assert rendered == ('sum(rate(x{namespace="ml",model="iris",version="v2"}[30s])) / v1 $')
    with pytest.raises(MetricsSpecError, match=r"unknown placeholder 'version'"):
        render_check(
            "x{v='$version'}",
            namespace="ml",
            model="iris",
            canary="v2",
            stable="v1",
            window_seconds=30,
        )


# --- a canary judged by a check ---------------------------------------------------------------


@dataclasses.dataclass
class CheckedMetrics(FakeMetrics):
    """FakeMetrics that also answers the checks' queries with `value_of`."""

    value_of: float | None = 0.0
    asked: list[str] = dataclasses.field(default_factory=list)

    def value(self, promql: str) -> float | None:
        self.asked.append(promql)
        return self.value_of


def test_a_check_out_of_range_rolls_the_canary_back_with_its_name_in_the_reason():
    raw = spec_with(
        [
            {
                "name": "error-budget",
                "query": 'sum(x{version="$canary"})',
                "thresholdRange": {"max": 0.05},
            }
        ],
        {"prometheus": {"address": PROMETHEUS}},
    )
    settings = dataclasses.replace(SETTINGS, prometheus_allowlist=(PROMETHEUS,))
    walk = Walk(raw, settings=settings)
    metrics = CheckedMetrics(per_window={"v1": HEALTHY, "v2": HEALTHY}, value_of=0.01)
    walk.metrics = metrics
    walk.start_canary()
    walk.ready("v2")
    walk.until(lambda: bool(walk.canary().analysis.windows), limit=20)
    window = walk.canary().analysis.windows[0]
    assert window.verdict == "Passed" and window.metrics == {"error-budget": 0.01}
    assert metrics.asked[-1] == 'sum(x{version="v2"})'

    metrics.value_of = 0.2
    walk.until(lambda: walk.status().phase == "RolledBack", limit=20)
    health = walk.condition("CanaryHealthy")
    assert health.reason == "AnalysisFailed"
    assert "metric error-budget 0.2 > max 0.05" in health.message
    assert "metric error-budget" in walk.status().history[0].message
