"""Validated feature matrices as the DataFrames that models fitted on DataFrames expect.

The trainer fits on a pandas DataFrame. A pipeline that selects columns by name (a
ColumnTransformer from `spec.training.preprocessing`) cannot predict on a NumPy array
("Specifying the columns using strings is only supported for dataframes"), and string
features need their own column dtype anyway. Such models get a DataFrame with the bundle's
column names and each column in the kind it was trained with (float64 numbers, bools,
categories as objects with NaN for missing). Every other model keeps the plain float
matrix: building a frame costs tens of microseconds per batch, and the all-numeric fast
path must not pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .features import FeatureLayout


@dataclass(frozen=True, slots=True)
class FrameBuilder:
    names: tuple[str, ...]
    kinds: tuple[str, ...]

    def build(self, matrix: np.ndarray) -> Any:
        import pandas as pd

        if matrix.dtype.kind == "f":
            return pd.DataFrame(matrix, columns=list(self.names), copy=False)
        columns: dict[str, Any] = {}
        for column, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            values = matrix[:, column]
            if kind in "iuf":
                columns[name] = values.astype(np.float64)
            elif kind == "b" and all(type(v) is bool for v in values.tolist()):
                columns[name] = values.astype(bool)
            else:
                columns[name] = pd.Series(values, dtype=object)
        return pd.DataFrame(columns)


def frame_builder(estimator: Any, layout: FeatureLayout) -> FrameBuilder | None:
    """A builder when this model needs DataFrames, else None (it predicts on arrays).

    Only a model fitted on a DataFrame (it has `feature_names_in_`) gets one: a model
    fitted on an array selects columns by position and warns about names it never saw."""
    if getattr(estimator, "feature_names_in_", None) is None:
        return None
    if not layout.numeric or _selects_by_name(estimator):
        return FrameBuilder(names=layout.names, kinds=layout.kinds)
    return None


def _selects_by_name(estimator: Any) -> bool:
    """Does any ColumnTransformer inside (Pipelines, nested) select columns by name?"""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, ColumnTransformer):
        return any(
            _names_columns(columns) or _selects_by_name(inner)
            for _, inner, columns in estimator.transformers
        )
    if isinstance(estimator, Pipeline):
        return any(_selects_by_name(step) for _, step in estimator.steps)
    return False


def _names_columns(columns: Any) -> bool:
    if isinstance(columns, str):
        return True
    if isinstance(columns, list | tuple | np.ndarray):
        return any(isinstance(c, str) for c in columns)
    return callable(columns)  # a selector: it reads the DataFrame's columns
