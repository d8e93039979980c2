"""The training inputs' reference statistics, written into the bundle for drift monitoring.

Computed from the rows the model was fitted on (the training side of the split), feature by
feature, in the format modelpilot.api.drift defines: decile cut points and counts for
numbers, the most frequent values and counts for everything else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelpilot.api.drift import MAX_BINS, DriftReference, FeatureReference, within_cap


def reference_of(x_train: pd.DataFrame) -> DriftReference:
    features = [_feature(str(name), x_train[name]) for name in x_train.columns]
    kept, left = within_cap(features)
    return DriftReference(rows=len(x_train), features=kept, unmonitored=left)


def _feature(name: str, column: pd.Series) -> FeatureReference:
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric:
        values = column.to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            return FeatureReference(name=name, kind="numeric", edges=[], counts=[0])
        quantiles = np.quantile(values, np.linspace(0, 1, MAX_BINS + 1)[1:-1])
        edges = np.unique(quantiles)
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return FeatureReference(
            name=name, kind="numeric", edges=edges.tolist(), counts=counts.tolist()
        )
    frequencies = column.astype(str).value_counts(sort=True)
    top = frequencies.iloc[: MAX_BINS - 1]
    other = int(frequencies.iloc[MAX_BINS - 1 :].sum())
    return FeatureReference(
        name=name,
        kind="categorical",
        categories=[str(c) for c in top.index],
        counts=[int(c) for c in top.to_numpy()] + [other],
    )
