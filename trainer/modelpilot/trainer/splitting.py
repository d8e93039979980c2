"""The train/holdout split, and the holdout's fingerprint.

Rows go to the holdout by a hash of their content (and the seed), so a row keeps its side
across revisions when the data grows; deterministic for a given seed and data, which is what
lets the stable model be scored on exactly the candidate's holdout and lets a person check
that with `holdout_sha256`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from modelpilot.api.bundle import BundleMetadata
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
    w_train: pd.Series | None = None  # spec.training.sampleWeight, row for row
    w_holdout: pd.Series | None = None

    def weighted(self, weights: pd.Series | None) -> Split:
        """This split with the rows' weights (matched by the data's index)."""
        if weights is None:
            return self
        return dataclasses.replace(
            self,
            w_train=weights.loc[self.y_train.index],
            w_holdout=weights.loc[self.y_holdout.index],
        )


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


# Rows are placed by a hash of their content into this many slots; a row is held out when
# its slot is below test_size of them.
_SLOTS = 1 << 20


def split(
    data: LoadedData, *, task: Task, test_size: float, random_state: int, by_content: bool = False
) -> Split:
    """The seeded stratified split; with `by_content` (a watched dataset), the split by content.

    A watched dataset changes between revisions, and the stable model it is compared with was
    trained on an earlier version of it: a seeded split of the new rows would put rows the
    stable model trained on into the holdout and flatter it. So its rows are placed by content.
    """
    if by_content:
        return split_by_content(data, task=task, test_size=test_size, random_state=random_state)
    return _stratified(data, task=task, test_size=test_size, random_state=random_state).weighted(
        data.weights
    )


def fair_split(
    data: LoadedData,
    *,
    task: Task,
    test_size: float,
    random_state: int,
    watched: bool,
    stable: BundleMetadata | None,
) -> Split:
    """The split that keeps the comparison with stable fair (issue 22 §3).

    Stable is scored on the candidate's holdout, so that holdout must not hold rows stable
    was trained on. The seeded split of the very data stable saw, with the holdout stable
    recorded, is exactly stable's split: its holdout is rows stable never trained on. Any
    other case — a watched dataset, data whose fingerprint differs from stable's (a
    scheduled, manual or drift retrain on changed data), or the same data split another way
    before (by content, or with another seed or testSize) — splits by content, so rows keep
    the side they had whenever stable was split by content too.
    """
    if not watched and (stable is None or stable.training_data_sha256 == data.sha256):
        seeded = _stratified(data, task=task, test_size=test_size, random_state=random_state)
        if stable is None or stable.holdout_sha256 == seeded.holdout_sha256:
            return seeded.weighted(data.weights)
    return split_by_content(data, task=task, test_size=test_size, random_state=random_state)


def split_by_content(data: LoadedData, *, task: Task, test_size: float, random_state: int) -> Split:
    """Each row's side is decided by a hash of its content (features and target) and the seed.

    So a row keeps its side when rows are added, removed or reordered: a stable model scored
    on a new revision's holdout is scored on rows it never trained on as far as the data
    allows (rows it trained on that are still in the data stay on the training side; equal
    rows always share a side). When that leaves a class out of either side (tiny data), the
    seeded stratified split is used instead, as it was before.
    """
    frame = pd.concat([data.features, data.target], axis=1)
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    seeded = (hashed ^ np.uint64(random_state & 0xFFFFFFFFFFFFFFFF)) * np.uint64(0x9E3779B97F4A7C15)
    held = (seeded >> np.uint64(44)) < np.uint64(round(test_size * _SLOTS))
    enough = 0 < held.sum() < len(held)
    if enough and task is Task.CLASSIFICATION:
        y = data.target.to_numpy()
        classes = set(pd.unique(y))
        enough = set(pd.unique(y[held])) == classes == set(pd.unique(y[~held]))
    if enough:
        x_train, x_holdout = data.features[~held], data.features[held]
        y_train, y_holdout = data.target[~held], data.target[held]
        holdout_sha256 = fingerprint(pd.concat([x_holdout, y_holdout], axis=1))
        return Split(x_train, x_holdout, y_train, y_holdout, holdout_sha256).weighted(data.weights)
    return _stratified(data, task=task, test_size=test_size, random_state=random_state).weighted(
        data.weights
    )


def _stratified(data: LoadedData, *, task: Task, test_size: float, random_state: int) -> Split:
    from sklearn.model_selection import train_test_split

    stratify = data.target if task is Task.CLASSIFICATION else None
    try:
        x_train, x_holdout, y_train, y_holdout = train_test_split(
            data.features,
            data.target,
            test_size=test_size,
            random_state=random_state,
            stratify=stratify,
        )
    except ValueError as exc:
        # Too few rows for the test size, or a class with one member (cannot stratify).
        raise DataError(
            f"cannot split {data.rows} rows of {data.source} (target {data.target.name!r}, "
            f"testSize {test_size}): {exc}"
        ) from exc
    holdout_sha256 = fingerprint(pd.concat([x_holdout, y_holdout], axis=1))
    return Split(x_train, x_holdout, y_train, y_holdout, holdout_sha256)
