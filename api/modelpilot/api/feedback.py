"""Ground truth as sufficient statistics, and the gate's metric computed from them.

Labels fed back by request id are joined with the prediction in the serving pod that made
it; the pod exports only statistics that add up across pods and windows — for classifiers
the count of each (label, predicted) pair (a confusion matrix), for regressors five sums —
and the operator subtracts two scrapes to get a window, adds windows to get its sliding
window, and computes the gate's metric here. Defined once so the pod's export and the
operator's reading cannot disagree, and pure so every metric is tested against scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from modelpilot.api.metrics import metric_info

# Regression sums, by their stat label on /metrics.
ROWS, ABS_ERROR, SQUARED_ERROR, LABEL, LABEL_SQUARED = (
    "rows",
    "absError",
    "squaredError",
    "label",
    "labelSquared",
)
SUM_STATS = (ROWS, ABS_ERROR, SQUARED_ERROR, LABEL, LABEL_SQUARED)


@dataclass(frozen=True)
class FeedbackStats:
    """Labelled rows of one window (or one pod's cumulative counters).

    `confusion`: (label, predicted) -> count, classifiers; `sums`: SUM_STATS -> value,
    regressors. Labels and predictions are compared as text (what /metrics labels carry).
    """

    confusion: Mapping[tuple[str, str], float] = field(default_factory=dict)
    sums: Mapping[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        if self.confusion:
            return round(sum(self.confusion.values()))
        return round(self.sums.get(ROWS, 0.0))

    def plus(self, other: FeedbackStats) -> FeedbackStats:
        confusion = dict(self.confusion)
        for key, value in other.confusion.items():
            confusion[key] = confusion.get(key, 0.0) + value
        sums = dict(self.sums)
        for stat, amount in other.sums.items():
            sums[stat] = sums.get(stat, 0.0) + amount
        return FeedbackStats(confusion=confusion, sums=sums)

    def minus(self, earlier: FeedbackStats) -> FeedbackStats:
        """This cumulative reading less an earlier one of the same pod (never below 0 rows)."""
        confusion = {
            key: value - earlier.confusion.get(key, 0.0)
            for key, value in self.confusion.items()
            if value - earlier.confusion.get(key, 0.0) > 0
        }
        sums = {key: value - earlier.sums.get(key, 0.0) for key, value in self.sums.items()}
        return FeedbackStats(confusion=confusion, sums=sums)

    def went_back(self, earlier: FeedbackStats) -> bool:
        """A counter is lower than before: the pod restarted (its counters start at 0)."""
        return (
            any(
                value < earlier.confusion.get(key, 0.0) - 1e-9
                for key, value in self.confusion.items()
            )
            or self.sums.get(ROWS, 0.0) < earlier.sums.get(ROWS, 0.0) - 1e-9
            or (len(self.confusion) < len(earlier.confusion))
        )


def total(parts: Iterable[FeedbackStats]) -> FeedbackStats:
    out = FeedbackStats()
    for part in parts:
        out = out.plus(part)
    return out


def live_metric(metric: str, stats: FeedbackStats) -> float | None:
    """`metric` over the labelled rows in `stats`; None when it is undefined there (no rows,
    R2 of a constant label) or cannot be computed from these statistics."""
    if stats.count <= 0:
        return None
    if metric_info(metric).task == "classification":
        return _classification(metric, stats.confusion)
    return _regression(metric, stats.sums)


def is_degraded(metric: str, value: float, threshold: float) -> bool:
    """Below the threshold for metrics where more is better, above it for error metrics."""
    if metric_info(metric).greater_is_better:
        return value < threshold
    return value > threshold


def _classification(metric: str, confusion: Mapping[tuple[str, str], float]) -> float | None:
    n = sum(confusion.values())
    if metric == "accuracy":
        return sum(v for (y, p), v in confusion.items() if y == p) / n
    # Per class, over the classes that occur as a label or a prediction (scikit-learn's
    # macro averages use the same set, with zero_division=0).
    classes = sorted({y for y, _ in confusion} | {p for _, p in confusion})
    tp = {c: confusion.get((c, c), 0.0) for c in classes}
    true = {c: sum(v for (y, _), v in confusion.items() if y == c) for c in classes}
    predicted = {c: sum(v for (_, p), v in confusion.items() if p == c) for c in classes}
    recall = {c: tp[c] / true[c] if true[c] else 0.0 for c in classes}
    precision = {c: tp[c] / predicted[c] if predicted[c] else 0.0 for c in classes}
    if metric == "balanced_accuracy":
        labelled = [c for c in classes if true[c]]
        return sum(recall[c] for c in labelled) / len(labelled)
    if metric == "recall_macro":
        return sum(recall.values()) / len(classes)
    if metric == "precision_macro":
        return sum(precision.values()) / len(classes)
    if metric == "f1_macro":
        f1 = [
            2 * tp[c] / (true[c] + predicted[c]) if true[c] + predicted[c] else 0.0 for c in classes
        ]
        return sum(f1) / len(classes)
    return None  # roc_auc, log_loss: need probabilities


def _regression(metric: str, sums: Mapping[str, float]) -> float | None:
    n = sums.get(ROWS, 0.0)
    if metric == "rmse":
        return math.sqrt(max(0.0, sums.get(SQUARED_ERROR, 0.0)) / n)
    if metric == "mae":
        return sums.get(ABS_ERROR, 0.0) / n
    if metric == "r2":
        mean = sums.get(LABEL, 0.0) / n
        spread = sums.get(LABEL_SQUARED, 0.0) - n * mean * mean
        if spread <= 1e-12 * max(1.0, abs(sums.get(LABEL_SQUARED, 0.0))):
            return None  # a constant label: R2 is undefined
        return 1.0 - sums.get(SQUARED_ERROR, 0.0) / spread
    return None
