"""Scoring a fitted model on the holdout: every metric of its task, from one set of predictions.

The metric names and directions come from `modelpilot.api.metrics`, the table the gate and
the CRD also read. A metric that cannot be computed for this model and holdout (roc_auc
without scores for a multiclass model, log_loss without predict_proba) is left out rather
than guessed; non-finite values are left out too, because a NaN score would silently pass
every comparison in the gate and is not valid JSON.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from modelpilot.api.metrics import Task
from modelpilot.trainer.errors import TrainingError
from modelpilot.trainer.fitting import distinct_warnings


@dataclass(frozen=True)
class Scores:
    metrics: dict[str, float]
    prediction_range: tuple[float, float] | None  # regression: min/max holdout prediction
    warnings: tuple[str, ...]


def evaluate(model: Any, x: pd.DataFrame, y: pd.Series, *, task: Task) -> Scores:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if task is Task.CLASSIFICATION:
                metrics, prediction_range = _classification(model, x, y), None
            else:
                metrics, prediction_range = _regression(model, x, y)
        except Exception as exc:
            raise TrainingError(f"scoring failed: {type(exc).__name__}: {exc}") from exc
    finite = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
    return Scores(finite, prediction_range, distinct_warnings(caught))


def _classification(model: Any, x: pd.DataFrame, y: pd.Series) -> dict[str, float | None]:
    from sklearn import metrics as m

    predicted = model.predict(x)
    out: dict[str, float | None] = {
        "accuracy": m.accuracy_score(y, predicted),
        "balanced_accuracy": m.balanced_accuracy_score(y, predicted),
        "f1_macro": m.f1_score(y, predicted, average="macro", zero_division=0),
        "precision_macro": m.precision_score(y, predicted, average="macro", zero_division=0),
        "recall_macro": m.recall_score(y, predicted, average="macro", zero_division=0),
    }
    classes = list(model.classes_)
    proba = model.predict_proba(x) if hasattr(model, "predict_proba") else None
    if proba is not None:
        out["log_loss"] = m.log_loss(y, proba, labels=classes)
    out["roc_auc"] = _roc_auc(model, x, y, proba, classes)
    return out


def _roc_auc(model: Any, x: pd.DataFrame, y: pd.Series, proba: Any, classes: list) -> float | None:
    from sklearn.metrics import roc_auc_score

    if y.nunique() < 2 or set(pd.unique(y)) - set(classes):
        return None  # undefined on a one-class holdout, or labels the model never saw
    if len(classes) == 2:
        if proba is not None:
            scores = proba[:, 1]
        elif hasattr(model, "decision_function"):
            scores = model.decision_function(x)
        else:
            return None
        # Positive class = classes_[1], the column predict_proba and decision_function use.
        return roc_auc_score((np.asarray(y) == classes[1]).astype(int), scores)
    if proba is None or y.nunique() != len(classes):
        return None  # one-vs-rest needs probabilities for every class present
    return roc_auc_score(y, proba, multi_class="ovr", labels=classes)


def _regression(
    model: Any, x: pd.DataFrame, y: pd.Series
) -> tuple[dict[str, float | None], tuple[float, float] | None]:
    from sklearn import metrics as m

    predicted = np.asarray(model.predict(x), dtype=float)
    out: dict[str, float | None] = {
        "r2": m.r2_score(y, predicted) if len(y) >= 2 else None,
        "rmse": m.root_mean_squared_error(y, predicted),
        "mae": m.mean_absolute_error(y, predicted),
    }
    finite = predicted[np.isfinite(predicted)]
    prediction_range = (float(finite.min()), float(finite.max())) if finite.size else None
    return out, prediction_range
