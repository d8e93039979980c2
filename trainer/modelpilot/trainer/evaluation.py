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


def evaluate(
    model: Any, x: pd.DataFrame, y: pd.Series, *, task: Task, sample_weight: pd.Series | None = None
) -> Scores:
    """Every metric of the task; with `sample_weight` (spec.training.sampleWeight) each
    holdout row counts by its weight, in every metric."""
    w = None if sample_weight is None else sample_weight.to_numpy(dtype=float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if task is Task.CLASSIFICATION:
                metrics, prediction_range = _classification(model, x, y, w), None
            else:
                metrics, prediction_range = _regression(model, x, y, w)
        except Exception as exc:
            raise TrainingError(f"scoring failed: {type(exc).__name__}: {exc}") from exc
    finite = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
    return Scores(finite, prediction_range, distinct_warnings(caught))


# Classifiers whose predict() agrees with argmax(predict_proba) on every row whose maximum
# probability is unique — read from scikit-learn's source: forests and trees predict
# `classes_.take(argmax(proba))`; HistGradientBoosting predicts argmax of the raw score (or
# raw > 0) and its proba is a monotone map of that score (expit/softmax), which can only
# collapse close scores into ties, never reorder them. For these the holdout is predicted
# once instead of twice (a full pass over every tree: most of the scoring time), and tied
# rows are re-predicted with predict() itself, so the labels are exactly predict()'s.
# Everything else calls predict(): for SVC, for one, argmax of (Platt-scaled) proba is not
# predict. A unit test pins the list against the installed scikit-learn.
PREDICT_IS_ARGMAX_PROBA = frozenset(
    {
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
    }
)


def final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def predict_classes(model: Any, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """(predicted labels, predict_proba or None), predicting the holdout as few times as we may."""
    proba = model.predict_proba(x) if hasattr(model, "predict_proba") else None
    final = type(final_estimator(model))
    if proba is None or f"{final.__module__}.{final.__qualname__}" not in PREDICT_IS_ARGMAX_PROBA:
        return np.asarray(model.predict(x)), proba
    predicted = np.asarray(model.classes_).take(np.argmax(proba, axis=1), axis=0)
    tied = np.flatnonzero((proba == proba.max(axis=1, keepdims=True)).sum(axis=1) > 1)
    if tied.size:
        predicted[tied] = model.predict(x.iloc[tied])
    return predicted, proba


def label_metrics(y_true: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, float]:
    """accuracy, balanced accuracy and the macro scores from one confusion matrix.

    Same definitions as scikit-learn's functions with zero_division=0 (macro over the union
    of true and predicted labels; balanced accuracy over the classes present in y_true) —
    a property test checks them against scikit-learn, weighted and not — at a fraction of
    the cost of five separately validated calls. Weights count rows in the confusion matrix.
    """
    from sklearn.utils.multiclass import unique_labels

    labels = unique_labels(y_true, y_pred)  # sorted union; rejects mixed label types
    n = len(labels)
    true_index = np.searchsorted(labels, np.asarray(y_true))
    pred_index = np.searchsorted(labels, np.asarray(y_pred))
    cm = (
        np.bincount(true_index * n + pred_index, weights=sample_weight, minlength=n * n)
        .reshape(n, n)
        .astype(float)
    )
    tp, true, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(true > 0, tp / true, 0.0)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(true + predicted > 0, 2 * tp / (true + predicted), 0.0)
    return {
        "accuracy": float(tp.sum() / cm.sum()),
        "balanced_accuracy": float(recall[true > 0].mean()),
        "f1_macro": float(f1.mean()),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
    }


def _classification(
    model: Any, x: pd.DataFrame, y: pd.Series, w: np.ndarray | None
) -> dict[str, float | None]:
    from sklearn.metrics import log_loss

    predicted, proba = predict_classes(model, x)
    out: dict[str, float | None] = dict(label_metrics(y, predicted, w))
    classes = list(model.classes_)
    if proba is not None:
        out["log_loss"] = log_loss(y, proba, labels=classes, sample_weight=w)
    out["roc_auc"] = _roc_auc(model, x, y, proba, classes, w)
    return out


def _roc_auc(
    model: Any,
    x: pd.DataFrame,
    y: pd.Series,
    proba: Any,
    classes: list,
    w: np.ndarray | None = None,
) -> float | None:
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
        return roc_auc_score((np.asarray(y) == classes[1]).astype(int), scores, sample_weight=w)
    if proba is None or y.nunique() != len(classes):
        return None  # one-vs-rest needs probabilities for every class present
    return roc_auc_score(y, proba, multi_class="ovr", labels=classes, sample_weight=w)


def _regression(
    model: Any, x: pd.DataFrame, y: pd.Series, w: np.ndarray | None = None
) -> tuple[dict[str, float | None], tuple[float, float] | None]:
    from sklearn import metrics as m

    predicted = np.asarray(model.predict(x), dtype=float)
    out: dict[str, float | None] = {
        "r2": m.r2_score(y, predicted, sample_weight=w) if len(y) >= 2 else None,
        "rmse": m.root_mean_squared_error(y, predicted, sample_weight=w),
        "mae": m.mean_absolute_error(y, predicted, sample_weight=w),
    }
    finite = predicted[np.isfinite(predicted)]
    prediction_range = (float(finite.min()), float(finite.max())) if finite.size else None
    return out, prediction_range
