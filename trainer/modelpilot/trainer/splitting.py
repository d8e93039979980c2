"""The train/holdout split, and the holdout's fingerprint.

Stratified for classification so every class is in both parts; deterministic for a given
seed and data (same rows, same order), which is what lets the stable model be scored on
exactly the candidate's holdout and lets a person check that with `holdout_sha256`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from modelpilot.api.metrics import Task
from modelpilot.trainer.datasets import LoadedData, fingerprint
from modelpilot.trainer.errors import DataError


@dataclass(frozen=True)
class Split:
    x_train: pd.DataFrame
    x_holdout: pd.DataFrame
    y_train: pd.Series
    y_holdout: pd.Series
    holdout_sha256: str


def check_target(data: LoadedData, task: Task) -> None:
    """Reject a target the task cannot learn from, naming the column."""
    y = data.target
    name = y.name
    if task is Task.REGRESSION:
        if not pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(y.dtype):
            raise DataError(
                f"target column {name!r} is not numeric (dtype {y.dtype}); a regressor needs "
                "a numeric target — use a classifier for labels"
            )
        return
    from sklearn.utils.multiclass import type_of_target

    kind = type_of_target(y)
    if kind == "continuous":
        raise DataError(
            f"target column {name!r} holds continuous values; a classifier needs class "
            "labels — use a regressor"
        )
    if y.nunique() < 2:
        raise DataError(f"target column {name!r} has a single class; nothing to learn")


def split(data: LoadedData, *, task: Task, test_size: float, random_state: int) -> Split:
    from sklearn.model_selection import train_test_split

    stratify = data.target if task is Task.CLASSIFICATION else None
    try:
        x_train, x_holdout, y_train, y_holdout = train_test_split(
            data.features, data.target,
            test_size=test_size, random_state=random_state, stratify=stratify,
        )
    except ValueError as exc:
        # Too few rows for the test size, or a class with one member (cannot stratify).
        raise DataError(
            f"cannot split {data.rows} rows of {data.source} (target {data.target.name!r}, "
            f"testSize {test_size}): {exc}"
        ) from exc
    holdout_sha256 = fingerprint(pd.concat([x_holdout, y_holdout], axis=1))
    return Split(x_train, x_holdout, y_train, y_holdout, holdout_sha256)
