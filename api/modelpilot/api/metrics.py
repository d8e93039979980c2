"""The evaluation metrics modelpilot knows, per task, and which way is better.

Trainer (computes them), gate (compares them) and CRD validation (bounded thresholds) all
read this one table, so a metric name means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    name: str
    task: Task
    greater_is_better: bool
    # Bounded metrics live in [0, 1]; a threshold outside that range is a spec error.
    bounded: bool


_ALL = (
    MetricInfo("accuracy", Task.CLASSIFICATION, True, True),
    MetricInfo("balanced_accuracy", Task.CLASSIFICATION, True, True),
    MetricInfo("f1_macro", Task.CLASSIFICATION, True, True),
    MetricInfo("precision_macro", Task.CLASSIFICATION, True, True),
    MetricInfo("recall_macro", Task.CLASSIFICATION, True, True),
    MetricInfo("roc_auc", Task.CLASSIFICATION, True, True),
    MetricInfo("log_loss", Task.CLASSIFICATION, False, False),
    MetricInfo("r2", Task.REGRESSION, True, False),
    MetricInfo("rmse", Task.REGRESSION, False, False),
    MetricInfo("mae", Task.REGRESSION, False, False),
)

METRICS: dict[str, MetricInfo] = {m.name: m for m in _ALL}
BOUNDED_METRICS = tuple(m.name for m in _ALL if m.bounded)


def metrics_for(task: Task) -> tuple[str, ...]:
    return tuple(m.name for m in _ALL if m.task == task)


def metric_info(name: str) -> MetricInfo:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}") from None
