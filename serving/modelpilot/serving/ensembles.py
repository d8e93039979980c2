"""Tree-ensemble predictions without scikit-learn's per-call overhead, same arithmetic.

Forests:

A RandomForest's `predict` on one row costs milliseconds, almost all of it joblib's
`Parallel` machinery and per-tree input validation rather than tree traversal (measured
here: ~3 ms for `predict` vs ~0.3 ms for the traversals of 100 trees). Requests are already
validated, so this module walks the fitted trees directly with exactly scikit-learn's
arithmetic for n_jobs=1 (float32 input; per-tree `tree_.predict`; float64 sums in estimator
order; one division by the number of trees; argmax into `classes_`), which gives
bit-identical results.

HistGradientBoosting: one row costs ~450 us, of which ~100 us are input validation,
`check_is_fitted`, the OpenMP thread-count query and a `functools.partial` per predictor;
this keeps sklearn's own per-predictor `predict` calls and its loss's link functions and
drops the rest (models without categorical features only, one OpenMP thread, which is
what the server runs with anyway).

Because this leans on fitted attributes (`estimators_`, `tree_`, `_predictors`, `_loss`),
it is used only for the exact classes of the scikit-learn version the bundle was verified
against (version skew is refused at load), only for single-output models, and only after a
self-check at load time: both paths predict a few hundred probe rows built from the
model's own split thresholds and must agree exactly, else the model keeps using its own
`predict`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger("modelpilot.serving")

_PROBE_ROWS = 512


class ForestPredictor:
    def __init__(self, forest: Any, *, classifier: bool) -> None:
        self._trees = [estimator.tree_ for estimator in forest.estimators_]
        self._classifier = classifier
        self._n_features = int(forest.n_features_in_)
        if classifier:
            self._classes = forest.classes_
            self._n_classes = int(forest.n_classes_)

    def predict(self, features: np.ndarray, *, proba: bool) -> tuple[np.ndarray, np.ndarray | None]:
        X = np.ascontiguousarray(features, dtype=np.float32)
        n = X.shape[0]
        if self._classifier:
            total = np.zeros((n, self._n_classes), dtype=np.float64)
            width = self._n_classes
            for tree in self._trees:
                total += tree.predict(X)[:, :width]
            total /= len(self._trees)
            predictions = self._classes.take(np.argmax(total, axis=1), axis=0)
            return predictions, (total if proba else None)
        total = np.zeros(n, dtype=np.float64)
        for tree in self._trees:
            total += tree.predict(X)[:, 0]
        total /= len(self._trees)
        return total, None


class HistGradientBoostingPredictor:
    def __init__(self, model: Any, *, classifier: bool) -> None:
        self._predictors = model._predictors
        self._baseline = model._baseline_prediction
        self._n_trees = int(model.n_trees_per_iteration_)
        self._known_cat_bitsets, self._f_idx_map = model._bin_mapper.make_known_categories_bitsets()
        self._loss = model._loss
        self._classifier = classifier
        self._classes = getattr(model, "classes_", None)

    def predict(self, features: np.ndarray, *, proba: bool) -> tuple[np.ndarray, np.ndarray | None]:
        X = np.ascontiguousarray(features, dtype=np.float64)
        raw = np.zeros((X.shape[0], self._n_trees), dtype=self._baseline.dtype, order="F")
        raw += self._baseline
        bitsets, f_idx_map = self._known_cat_bitsets, self._f_idx_map
        for predictors_of_iteration in self._predictors:
            for k, predictor in enumerate(predictors_of_iteration):
                raw[:, k] += predictor.predict(X, bitsets, f_idx_map, 1)
        if not self._classifier:
            return self._loss.link.inverse(raw.ravel()), None
        # As sklearn: binary is "> 0" (a tie goes to the first class), multiclass argmax.
        binary = raw.shape[1] == 1
        encoded = (raw.ravel() > 0).astype(int) if binary else np.argmax(raw, axis=1)
        assert self._classes is not None
        return self._classes[encoded], (self._loss.predict_proba(raw) if proba else None)


FastPredictor = ForestPredictor | HistGradientBoostingPredictor


def fast_predictor(estimator: Any) -> FastPredictor | None:
    """A checked fast path for this estimator, or None to use its own predict."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    kind = type(estimator)
    predictor: FastPredictor
    if kind in (
        RandomForestClassifier,
        ExtraTreesClassifier,
        RandomForestRegressor,
        ExtraTreesRegressor,
    ):
        if getattr(estimator, "n_outputs_", None) != 1 or not hasattr(estimator, "estimators_"):
            return None
        classifier = kind in (RandomForestClassifier, ExtraTreesClassifier)
        predictor = ForestPredictor(estimator, classifier=classifier)
        probe = _probe_rows(estimator)
    elif kind in (HistGradientBoostingClassifier, HistGradientBoostingRegressor):
        if getattr(estimator, "_preprocessor", None) is not None or not hasattr(
            estimator, "_predictors"
        ):
            return None  # categorical features: sklearn remaps them first
        classifier = kind is HistGradientBoostingClassifier
        predictor = HistGradientBoostingPredictor(estimator, classifier=classifier)
        probe = _hgb_probe_rows(estimator)
    else:
        return None
    fast, fast_proba = predictor.predict(probe, proba=classifier)
    agrees = np.array_equal(fast, estimator.predict(probe))
    if classifier and agrees:
        agrees = np.array_equal(fast_proba, estimator.predict_proba(probe))
    if not agrees:
        log.warning(
            "the fast path disagrees with %s.predict on probe rows; using predict", kind.__name__
        )
        return None
    return predictor


def _probe_rows(forest: Any) -> np.ndarray:
    """Rows that land on both sides of many split thresholds, plus values far outside."""
    rng = np.random.default_rng(0)
    n_features = int(forest.n_features_in_)
    probe = rng.normal(0.0, 1.0, size=(_PROBE_ROWS, n_features))
    thresholds: list[list[float]] = [[] for _ in range(n_features)]
    for estimator in forest.estimators_[:20]:
        tree = estimator.tree_
        inner = tree.feature >= 0
        for feature, threshold in zip(tree.feature[inner], tree.threshold[inner], strict=True):
            thresholds[feature].append(float(threshold))
    for j, values in enumerate(thresholds):
        if values:
            chosen = rng.choice(np.asarray(values), size=_PROBE_ROWS)
            probe[:, j] = chosen + rng.choice([-1e-3, 0.0, 1e-3], size=_PROBE_ROWS)
    probe[:8] *= 1e6  # far outside the training range
    return probe


def _hgb_probe_rows(model: Any) -> np.ndarray:
    """Rows around the bin thresholds the trees split on, plus values far outside."""
    rng = np.random.default_rng(0)
    n_features = int(model.n_features_in_)
    probe = rng.normal(0.0, 1.0, size=(_PROBE_ROWS, n_features))
    for j, thresholds in enumerate(model._bin_mapper.bin_thresholds_):
        if len(thresholds):
            chosen = rng.choice(np.asarray(thresholds, dtype=np.float64), size=_PROBE_ROWS)
            probe[:, j] = chosen + rng.choice([-1e-3, 0.0, 1e-3], size=_PROBE_ROWS)
    probe[:8] *= 1e6
    return probe
