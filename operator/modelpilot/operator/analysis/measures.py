"""The numbers analysis judges a window by: p99 latency, error rates, prediction PSI.

Pure functions of `Counts`; None where a number is undefined (no requests), never NaN, so
status and messages never show "nan".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelpilot.operator.analysis.counts import Counts, cumulative

# Stand-in for an empty bin's share in PSI, so ln(p/q) stays finite. 1e-4 is the value
# commonly used for PSI in model monitoring; it makes a class the canary predicts 1 % of the
# time and stable never contributes (0.01 - 0.0001) * ln(100) ≈ 0.046.
PSI_EPSILON = 1e-4


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The q-quantile of per-bucket counts, interpolated as Prometheus' histogram_quantile.

    Buckets are (upper bound -> observations in the bucket) with a math.inf bucket last.
    Inside the bucket holding rank q * total the value is interpolated linearly between the
    bucket's bounds (the first bucket's lower bound is 0); a rank in the +Inf bucket yields
    the highest finite bound. None when there are no observations.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q} is outside [0, 1]")
    points = cumulative(buckets)
    if len(points) < 2 or points[-1][0] != math.inf:
        return None
    observations = points[-1][1]
    if observations == 0:
        return None
    rank = q * observations
    # The first bucket whose cumulative count reaches the rank; the +Inf bucket if none does.
    index = next((i for i, (_, count) in enumerate(points[:-1]) if count >= rank), len(points) - 1)
    if index == len(points) - 1:
        return points[-2][0]
    upper, count = points[index]
    if index == 0 and upper <= 0:
        return upper
    lower, below = points[index - 1] if index > 0 else (0.0, 0.0)
    if count == below:  # only when q == 0 and the first bucket is empty
        return lower
    return lower + (upper - lower) * (rank - below) / (count - below)


def latency_p99_ms(counts: Counts) -> float | None:
    seconds = histogram_quantile(0.99, counts.latency)
    return None if seconds is None else seconds * 1000


def error_rate(counts: Counts) -> float | None:
    """Fraction of requests answered 5xx: the server failed."""
    return _fraction(counts, "5xx")


def client_error_rate(counts: Counts) -> float | None:
    """Fraction answered 4xx: the request was refused (a model rejecting inputs stable takes)."""
    return _fraction(counts, "4xx")


def psi(
    actual: Mapping[Any, float],
    expected: Mapping[Any, float],
    *,
    epsilon: float = PSI_EPSILON,
) -> float | None:
    """Population stability index of `actual` (canary) against `expected` (stable).

        PSI = Σ_i (a_i - e_i) * ln(a_i / e_i)

    over the union of bins, where a_i and e_i are each side's share of its own total, and a
    share of 0 is replaced by `epsilon`. 0 means identical; < 0.1 is usually read as no
    shift, 0.1 to 0.25 moderate, > 0.25 large. None when either side is empty.
    """
    actual_total, expected_total = sum(actual.values()), sum(expected.values())
    if actual_total <= 0 or expected_total <= 0:
        return None
    out = 0.0
    for key in set(actual) | set(expected):
        a = max(actual.get(key, 0.0) / actual_total, epsilon)
        e = max(expected.get(key, 0.0) / expected_total, epsilon)
        out += (a - e) * math.log(a / e)
    return out


def prediction_psi(canary: Counts, stable: Counts) -> float | None:
    """PSI of predicted classes (classification) or of predicted-value buckets (regression)."""
    if canary.predicted_classes or stable.predicted_classes:
        return psi(canary.predicted_classes, stable.predicted_classes)
    return psi(canary.prediction_values, stable.prediction_values)


def _fraction(counts: Counts, status_class: str) -> float | None:
    requests = counts.total_requests
    return counts.requests.get(status_class, 0.0) / requests if requests > 0 else None
