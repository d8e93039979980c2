"""Mixed feature matrices (numbers beside strings) checked and normalised column by column.

A model trained on a DataFrame with numeric, boolean and string (categorical) columns gets
its inputs as an object matrix: from V1 rows, from per-feature tensors, or from one 2-D
BYTES tensor in which every value is text. Each column is brought to what the fitted
pipeline saw in training: numbers as floats, booleans as bools, categories as str, and a
missing value (JSON null, NaN) as NaN, but only in a column whose pipeline takes it
(`FeatureLayout.missing`, decided by the trainer). Anything else is a 400 naming the input,
the row and the column, never a 500 from inside the pipeline: text that is not a number,
a number where a category belongs, "nan" or "inf" written as text.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InvalidInput

if TYPE_CHECKING:
    from .features import FeatureLayout

_NUMBERS = (int, float, np.integer, np.floating)
# The largest feature value accepted. Tree models (forests, gradient boosting) predict in
# float32 and sklearn refuses a value that overflows it ("too large for dtype('float32')"),
# which would be a 500; no real feature comes near, so the bound holds for every model.
# One comparison checks it together with finiteness (NaN and ±Inf compare False).
# A float64 scalar, not a Python float: NumPy would cast a Python float to an FP16 array's
# dtype (overflowing); a float64 promotes the comparison instead.
FLOAT32_MAX = np.float64(np.finfo(np.float32).max)


def in_range(values: np.ndarray) -> np.ndarray:
    """Elementwise: finite and within ±FLOAT32_MAX."""
    return np.abs(values) <= FLOAT32_MAX


_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def normalise(matrix: np.ndarray, layout: FeatureLayout, *, source: str) -> np.ndarray:
    """The object matrix with every column checked and brought to its feature's kind."""
    out = np.empty(matrix.shape, dtype=object)
    for column, kind in enumerate(layout.kinds):
        values = matrix[:, column]
        if kind in "iuf":
            out[:, column] = _numbers(values, layout, column, source=source)
        elif kind == "b":
            out[:, column] = [
                _boolean(v, layout, r, column, source=source) for r, v in enumerate(values.tolist())
            ]
        else:
            out[:, column] = [
                _category(v, layout, r, column, source=source)
                for r, v in enumerate(values.tolist())
            ]
    return out


def _numbers(values: np.ndarray, layout: FeatureLayout, column: int, *, source: str) -> np.ndarray:
    items = values.tolist()
    if all(isinstance(v, _NUMBERS) and not isinstance(v, bool) for v in items):
        floats = np.asarray(items, dtype=np.float64)  # ints too large overflow to inf: caught
    else:
        floats = np.array(
            [_number(v, layout, r, column, source=source) for r, v in enumerate(items)],
            dtype=np.float64,
        )
    bad = ~in_range(floats)
    if bad.any():
        for r in np.flatnonzero(bad).tolist():
            value = floats[r]
            if math.isnan(value) and layout.missing[column]:
                continue
            if math.isnan(value):
                raise missing_refused(layout, r, column, source=source)
            what = "out of range" if math.isfinite(value) else "not a finite number"
            raise _invalid(layout, r, column, f"{items[r]!r:.40} is {what}", source=source)
    return floats


def _number(value: Any, layout: FeatureLayout, row: int, column: int, *, source: str) -> float:
    if value is None:
        return math.nan  # missing: allowed or not is decided with the NaNs
    if isinstance(value, bool):
        raise _invalid(
            layout, row, column, f"expected a number, got the boolean {value}", source=source
        )
    if isinstance(value, _NUMBERS):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is None or not math.isfinite(number):
            # Text "nan"/"inf" is not a way to send a missing value: null is.
            raise _invalid(
                layout,
                row,
                column,
                f"{value!r:.40} is not a finite number (send null for a missing value)",
                source=source,
            )
        return number
    raise _invalid(
        layout, row, column, f"expected a number, got {type(value).__name__}", source=source
    )


def _boolean(value: Any, layout: FeatureLayout, row: int, column: int, *, source: str) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    if _is_missing(value):
        if layout.missing[column]:
            return math.nan
        raise missing_refused(layout, row, column, source=source)
    raise _invalid(layout, row, column, f"expected a boolean, got {value!r:.40}", source=source)


def _category(value: Any, layout: FeatureLayout, row: int, column: int, *, source: str) -> Any:
    if isinstance(value, str):
        return value
    if _is_missing(value):
        if layout.missing[column]:
            return math.nan
        raise missing_refused(layout, row, column, source=source)
    # The encoder was fitted on strings; a number beside them would fail inside it.
    raise _invalid(
        layout, row, column, f"expected a string (a category), got {value!r:.40}", source=source
    )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def missing_refused(layout: FeatureLayout, row: int, column: int, *, source: str) -> InvalidInput:
    name = layout.names[column]
    return _invalid(
        layout,
        row,
        column,
        f"got null/NaN, not a finite number: this model's pipeline cannot take "
        f"a missing value in {name!r}",
        source=source,
    )


def _invalid(
    layout: FeatureLayout, row: int, column: int, what: str, *, source: str
) -> InvalidInput:
    name = layout.names[column]
    return InvalidInput(
        f"{source}: row {row}, column {column} ({name!r}): {what}",
        row=row,
        column=column,
        feature=name,
    )
