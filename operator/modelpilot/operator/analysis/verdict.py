"""Judging one analysis window: pass, fail, or inconclusive — and saying why in numbers.

`evaluate(canary, stable, limits)` is pure. Too few canary requests is *inconclusive*, never
a pass (Argo Rollouts' rule): silence proves nothing about a model. Each failed check is
named with its measurement and its limit ("p99 412 ms > 250 ms") so status and Events say
what to look at. A value equal to its limit passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from modelpilot.api.spec import Analysis, AnalysisMetric
from modelpilot.operator.analysis.counts import Counts
from modelpilot.operator.analysis.measures import (
    client_error_rate,
    error_rate,
    latency_p99_ms,
    prediction_psi,
)


class VerdictKind(StrEnum):
    PASS = "Passed"  # enough requests, every check within its limit
    FAIL = "Failed"  # enough requests, at least one check over its limit
    INCONCLUSIVE = "Inconclusive"  # too few canary requests (or no window yet) to judge


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The limits of `spec.rollout.analysis`, as evaluate needs them."""

    max_error_rate: float
    max_client_error_rate_delta: float
    max_latency_p99_ms: float
    max_prediction_psi: float | None  # None: prediction drift is not checked
    min_requests: int

    @classmethod
    def from_spec(cls, analysis: Analysis) -> Limits:
        return cls(
            max_error_rate=analysis.max_error_rate,
            max_client_error_rate_delta=analysis.max_client_error_rate_delta,
            max_latency_p99_ms=analysis.max_latency_p99_ms,
            max_prediction_psi=analysis.max_prediction_psi,
            min_requests=analysis.min_requests,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurements:
    """What one window measured; None where undefined (no requests, no stable window).

    Field names are those of the status' AnalysisWindow, so it is built from `asdict()`.
    """

    canary_requests: int | None = None
    stable_requests: int | None = None
    canary_error_rate: float | None = None
    stable_error_rate: float | None = None
    canary_client_error_rate: float | None = None
    stable_client_error_rate: float | None = None
    canary_latency_p99_ms: float | None = None
    stable_latency_p99_ms: float | None = None
    prediction_psi: float | None = None

    @property
    def client_error_rate_delta(self) -> float | None:
        if self.canary_client_error_rate is None or self.stable_client_error_rate is None:
            return None
        return self.canary_client_error_rate - self.stable_client_error_rate


@dataclass(frozen=True, slots=True)
class AnalysisVerdict:
    kind: VerdictKind
    reasons: tuple[str, ...]  # why it failed or was inconclusive; empty for a pass
    measurements: Measurements
    # The values of spec.rollout.analysis.metrics that had data, by name, in spec order.
    metrics: tuple[tuple[str, float], ...] = ()

    @property
    def message(self) -> str:
        """One line for a condition or an Event."""
        if self.reasons:
            return "; ".join(self.reasons)
        custom = "".join(f", {name} {_number(value)}" for name, value in self.metrics)
        return "within limits: " + describe(self.measurements) + custom


def judge_metrics(
    verdict: AnalysisVerdict, checks: Sequence[AnalysisMetric], values: Mapping[str, float | None]
) -> AnalysisVerdict:
    """The built-in verdict with your own checks (spec.rollout.analysis.metrics) added.

    A value outside its thresholdRange fails the window whatever the built-in checks said
    (it was measured; too few requests does not make it right), and the reason names the
    check: "metric error-budget 0.12 > max 0.05". A check whose query returned no data makes
    a window that nothing failed inconclusive, never a pass. A bound equal to the value passes.
    """
    if not checks:
        return verdict
    failed, missing, measured = [], [], []
    for check in checks:
        value = values.get(check.name)
        if value is None:
            missing.append(f"metric {check.name}: no data")
            continue
        measured.append((check.name, value))
        low, high = check.threshold_range.min, check.threshold_range.max
        if low is not None and value < low:
            failed.append(f"metric {check.name} {_number(value)} < min {_number(low)}")
        elif high is not None and value > high:
            failed.append(f"metric {check.name} {_number(value)} > max {_number(high)}")
    built_in = verdict.reasons
    if failed:
        kind = VerdictKind.FAIL
        reasons = (*(built_in if verdict.kind is VerdictKind.FAIL else ()), *failed)
    elif verdict.kind is VerdictKind.FAIL:
        kind, reasons = VerdictKind.FAIL, built_in
    elif missing or verdict.kind is VerdictKind.INCONCLUSIVE:
        kind, reasons = VerdictKind.INCONCLUSIVE, (*built_in, *missing)
    else:
        kind, reasons = VerdictKind.PASS, ()
    return replace(verdict, kind=kind, reasons=tuple(reasons), metrics=tuple(measured))


def measure(canary: Counts, stable: Counts | None) -> Measurements:
    return Measurements(
        canary_requests=round(canary.total_requests),
        stable_requests=None if stable is None else round(stable.total_requests),
        canary_error_rate=error_rate(canary),
        stable_error_rate=None if stable is None else error_rate(stable),
        canary_client_error_rate=client_error_rate(canary),
        stable_client_error_rate=None if stable is None else client_error_rate(stable),
        canary_latency_p99_ms=latency_p99_ms(canary),
        stable_latency_p99_ms=None if stable is None else latency_p99_ms(stable),
        prediction_psi=None if stable is None else prediction_psi(canary, stable),
    )


def evaluate(canary: Counts | None, stable: Counts | None, limits: Limits) -> AnalysisVerdict:
    """The verdict on one window of the canary, with stable's window as the reference.

    `canary` None (the first scrape only set the baseline) is inconclusive. Without a stable
    window, or one without requests, the checks relative to stable (4xx delta, PSI) are
    skipped rather than compared with nothing.
    """
    if canary is None:
        return AnalysisVerdict(
            VerdictKind.INCONCLUSIVE,
            ("no metrics window yet: the first scrape sets the baseline",),
            Measurements(),
        )
    m = measure(canary, stable)
    if canary.total_requests < limits.min_requests:
        return AnalysisVerdict(
            VerdictKind.INCONCLUSIVE,
            (
                f"{_count(canary.total_requests)} canary requests < minRequests "
                f"{limits.min_requests}",
            ),
            m,
        )
    reasons = []
    if m.canary_error_rate is not None and m.canary_error_rate > limits.max_error_rate:
        reasons.append(
            f"error rate {_percent(m.canary_error_rate)} > {_percent(limits.max_error_rate)}"
        )
    delta = m.client_error_rate_delta
    if delta is not None and delta > limits.max_client_error_rate_delta:
        reasons.append(
            f"4xx rate {_percent(m.canary_client_error_rate)} is {_points(delta)} above "
            f"stable's {_percent(m.stable_client_error_rate)} > "
            f"{_points(limits.max_client_error_rate_delta)}"
        )
    p99 = m.canary_latency_p99_ms
    if p99 is not None and p99 > limits.max_latency_p99_ms:
        reasons.append(f"p99 {_ms(p99)} > {_ms(limits.max_latency_p99_ms)}")
    if (
        limits.max_prediction_psi is not None
        and m.prediction_psi is not None
        and m.prediction_psi > limits.max_prediction_psi
    ):
        reasons.append(
            f"prediction PSI {_number(m.prediction_psi)} > {_number(limits.max_prediction_psi)}"
        )
    return AnalysisVerdict(VerdictKind.FAIL if reasons else VerdictKind.PASS, tuple(reasons), m)


def describe(m: Measurements) -> str:
    """The measurements in a line: "120 canary requests, error rate 0%, p99 12 ms"."""
    parts = [f"{m.canary_requests} canary requests"]
    if m.canary_error_rate is not None:
        parts.append(f"error rate {_percent(m.canary_error_rate)}")
    if m.canary_client_error_rate is not None:
        parts.append(f"4xx rate {_percent(m.canary_client_error_rate)}")
    if m.canary_latency_p99_ms is not None:
        parts.append(f"p99 {_ms(m.canary_latency_p99_ms)}")
    if m.prediction_psi is not None:
        parts.append(f"prediction PSI {_number(m.prediction_psi)}")
    return ", ".join(parts)


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else _trim(f"{fraction * 100:.2f}") + "%"


def _points(fraction: float) -> str:
    return _trim(f"{fraction * 100:.2f}") + " points"


def _ms(value: float) -> str:
    return _trim(f"{value:.1f}") + " ms"


def _number(value: float) -> str:
    return _trim(f"{value:.3f}")


def _count(value: float) -> str:
    return str(round(value)) if float(value).is_integer() else _trim(f"{value:.1f}")
