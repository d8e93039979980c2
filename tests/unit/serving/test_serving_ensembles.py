"""The tree-ensemble fast paths are bit-identical to scikit-learn's predict and predict_proba."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from modelpilot.serving.ensembles import fast_predictor
from modelpilot.serving.model import _limit_inner_parallelism


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestClassifier(n_estimators=40, random_state=1),
        ExtraTreesClassifier(n_estimators=40, random_state=1),
        RandomForestClassifier(n_estimators=25, max_depth=3, n_jobs=2, random_state=2),
    ],
    ids=["random-forest", "extra-trees", "shallow-parallel"],
)
def test_classifier_fast_path_is_identical(estimator):
    X, y = make_classification(
        n_samples=600, n_features=12, n_informative=6, n_classes=4, random_state=0
    )
    labels = np.array(["setosa", "versicolor", "virginica", "other"])[y]
    estimator.fit(X, labels)
    _limit_inner_parallelism(estimator)  # as SklearnModel.load does: sums in tree order
    predictor = fast_predictor(estimator)
    assert predictor is not None
    rows = np.random.default_rng(3).normal(0, 2, size=(300, 12))
    for n in (1, 7, 300):
        predictions, probabilities = predictor.predict(rows[:n], proba=True)
        assert np.array_equal(predictions, estimator.predict(rows[:n]))
        assert np.array_equal(probabilities, estimator.predict_proba(rows[:n]))


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestRegressor(n_estimators=30, random_state=0),
        ExtraTreesRegressor(n_estimators=30, random_state=0),
    ],
    ids=["random-forest", "extra-trees"],
)
def test_regressor_fast_path_is_identical(estimator):
    X, y = make_regression(n_samples=500, n_features=8, random_state=0)
    estimator.fit(X, y)
    predictor = fast_predictor(estimator)
    assert predictor is not None
    rows = np.random.default_rng(4).normal(0, 2, size=(200, 8))
    predictions, probabilities = predictor.predict(rows, proba=False)
    assert probabilities is None
    assert np.array_equal(predictions, estimator.predict(rows))


def test_other_estimators_and_subclasses_keep_their_own_predict():
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)

    class MyForest(RandomForestClassifier):
        pass

    assert fast_predictor(GradientBoostingClassifier(n_estimators=5).fit(X, y)) is None
    assert fast_predictor(MyForest(n_estimators=5).fit(X, y)) is None
    multi = RandomForestClassifier(n_estimators=5).fit(X, np.column_stack([y, y]))
    assert fast_predictor(multi) is None


@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "multiclass"])
def test_hist_gradient_boosting_classifier_fast_path_is_identical(n_classes):
    X, y = make_classification(
        n_samples=800, n_features=20, n_informative=8, n_classes=n_classes, random_state=0
    )
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(X, y)
    predictor = fast_predictor(model)
    assert predictor is not None
    rows = np.random.default_rng(5).normal(0, 3, size=(400, 20))
    for n in (1, 400):
        predictions, probabilities = predictor.predict(rows[:n], proba=True)
        assert np.array_equal(predictions, model.predict(rows[:n]))
        assert np.array_equal(probabilities, model.predict_proba(rows[:n]))


def test_hist_gradient_boosting_regressor_fast_path_is_identical():
    X, y = make_regression(n_samples=600, n_features=10, random_state=0)
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    predictor = fast_predictor(model)
    assert predictor is not None
    rows = np.random.default_rng(6).normal(0, 3, size=(300, 10))
    assert np.array_equal(predictor.predict(rows, proba=False)[0], model.predict(rows))


def test_hist_gradient_boosting_with_categorical_features_keeps_its_own_predict():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 4, 300), rng.normal(size=300)])
    y = (X[:, 0] > 1).astype(int)
    model = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(X, y)
    assert fast_predictor(model) is None
