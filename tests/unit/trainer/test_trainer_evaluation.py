"""Scoring: the fast paths give exactly what scikit-learn's own functions give."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics
from sklearn.datasets import load_breast_cancer, load_wine

from modelpilot.api.metrics import Task, metrics_for
from modelpilot.trainer.evaluation import (
    PREDICT_IS_ARGMAX_PROBA,
    evaluate,
    label_metrics,
    predict_classes,
)


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.sampled_from("abcd"), st.sampled_from("abcd")), min_size=1, max_size=40
    )
)
def test_label_metrics_equal_scikit_learns(pairs):
    y_true = [t for t, _ in pairs]
    y_pred = [p for _, p in pairs]
    with warnings.catch_warnings():
        # balanced_accuracy_score warns when y_pred has classes absent from y_true; that
        # case is exactly one we want compared, so silence it here only.
        warnings.simplefilter("ignore", UserWarning)
        expected = {
            "accuracy": metrics.accuracy_score(y_true, y_pred),
            "balanced_accuracy": metrics.balanced_accuracy_score(y_true, y_pred),
            "f1_macro": metrics.f1_score(y_true, y_pred, average="macro", zero_division=0),
            "precision_macro": metrics.precision_score(
                y_true, y_pred, average="macro", zero_division=0
            ),
            "recall_macro": metrics.recall_score(y_true, y_pred, average="macro", zero_division=0),
        }
    assert label_metrics(y_true, y_pred) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("path", sorted(PREDICT_IS_ARGMAX_PROBA))
def test_argmax_of_proba_is_predict_for_every_listed_classifier(path):
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)  # the list names real classes
    params = {"n_estimators": 10} if "Forest" in name or "Trees" in name else {}
    params |= {"max_iter": 20} if "HistGradient" in name else {}
    for loader in (load_wine, load_breast_cancer):  # multiclass and binary
        x, y = loader(return_X_y=True, as_frame=True)
        model = cls(random_state=0, **params).fit(x[::2], y[::2])
        predicted, proba = predict_classes(model, x[1::2])
        assert proba is not None
        np.testing.assert_array_equal(predicted, model.predict(x[1::2]))


def test_rows_with_tied_probabilities_get_predicts_own_answer():
    from sklearn.tree import DecisionTreeClassifier

    # A stump over one useless feature: every leaf is 50/50, every row a tie.
    x = pd.DataFrame({"f": [0.0, 1.0] * 20})
    y = pd.Series(["b", "a", "a", "b"] * 10)
    model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x, y)
    predicted, proba = predict_classes(model, x)
    assert (proba == 0.5).all()
    np.testing.assert_array_equal(predicted, model.predict(x))


def test_a_classifier_without_predict_proba_still_gets_its_label_metrics():
    from sklearn.svm import LinearSVC

    x, y = load_wine(return_X_y=True, as_frame=True)
    y = pd.Series(np.where(y == 0, "first", "other"), name="kind")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LinearSVC()).fit(x[::2], y[::2])
    scores = evaluate(model, x[1::2], y[1::2], task=Task.CLASSIFICATION)
    assert "log_loss" not in scores.metrics  # no probabilities: left out, not guessed
    assert set(scores.metrics) == set(metrics_for(Task.CLASSIFICATION)) - {"log_loss"}
    expected = metrics.roc_auc_score(y[1::2] == "other", model.decision_function(x[1::2]))
    assert scores.metrics["roc_auc"] == pytest.approx(expected)
