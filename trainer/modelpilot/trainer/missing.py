"""Which features may be missing at prediction time: decided once, from the fitted model.

Whether a pipeline takes NaN in a column depends on everything in front of the estimator
(an imputer on that column, an encoder that treats NaN as a category or as unknown) and on
the estimator itself (HistGradientBoosting, trees since scikit-learn 1.4). Reading that off
the pipeline's structure would mean a table of every transformer's rules; asking the fitted
model is exact and cheap: predict a few training rows with the column set to NaN, and the
column accepts missing values when that gives finite predictions without an error. The
answer goes into the bundle (`FeatureSchema.accepts_missing`), so the server lets NaN/null
through where the pipeline takes it and answers 400 naming the column everywhere else.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

PROBE_ROWS = 3  # a handful of real rows: enough to exercise each branch, cheap to predict


def accepts_missing(model: Any, x_train: pd.DataFrame) -> list[bool]:
    """Per feature column of `x_train`, in order: does `model` predict with NaN there?"""
    sample = x_train.head(PROBE_ROWS)
    if sample.empty:
        return [False] * len(x_train.columns)
    everywhere = _with_missing(sample, list(x_train.columns))
    if _predicts(model, everywhere):  # the common answer for imputed pipelines: one call
        return [True] * len(x_train.columns)
    return [_predicts(model, _with_missing(sample, [column])) for column in x_train.columns]


def _with_missing(sample: pd.DataFrame, columns: list[Any]) -> pd.DataFrame:
    """The rows with NaN in `columns`, each column in the dtype the server gives it then:
    numbers as float64, anything else as objects (serving/frames.py). A string column
    filled with NaN alone would turn float and fail the encoder for the wrong reason."""
    probe = sample.copy()
    for column in columns:
        dtype = probe[column].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        probe[column] = pd.Series(
            [np.nan] * len(probe), index=probe.index, dtype=np.float64 if numeric else object
        )
    return probe


def _predicts(model: Any, probe: pd.DataFrame) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            predictions = np.asarray(model.predict(probe))
        except Exception:  # any refusal means "not here"; which one does not matter
            return False
    if predictions.dtype.kind in "fc":
        return bool(np.isfinite(predictions).all())
    return True
