"""Rows and columns from a request -> one validated matrix in the bundle's feature order.

Strict on purpose: a wrong feature count, a string where a number belongs, a boolean, ±Inf,
a missing value (null, NaN) where the model's pipeline cannot take one, an empty batch or
too many rows is the client's error (400/413) naming the row and column, never a 500 from
deep inside sklearn. Models with string features get an object matrix whose columns
columns.py checks and normalises. The common case (all-numeric features,
well-formed rows) is checked with C-speed passes (one numpy conversion, one set of element
types, one range check); only a failing request pays for the slow walk that finds *where*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from modelpilot.api.bundle import FeatureSchema

from . import columns as mixed
from .columns import FLOAT32_MAX, in_range
from .errors import InvalidInput, MalformedRequest, PayloadTooLarge

_NUMBER_TYPES = frozenset({int, float})


@dataclass(frozen=True, slots=True)
class FeatureLayout:
    """The bundle's feature schema, prepared for validating requests."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]  # numpy dtype kind per feature: 'f' 'i' 'u' 'b' 'O' 'U' ...
    max_rows: int
    # Per feature: the model's pipeline takes a missing value (NaN) there (the trainer's
    # decision, FeatureSchema.accepts_missing). Empty: none does.
    missing: tuple[bool, ...] = ()
    # Every feature is a number (bool features count as 0/1 numbers). Computed once: it is
    # asked several times per request, and walking 50 kinds each time showed in profiles.
    numeric: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "numeric", all(kind in "biuf" for kind in self.kinds))
        if len(self.missing) != len(self.names):
            object.__setattr__(self, "missing", (False,) * len(self.names))

    @classmethod
    def from_schema(cls, schema: FeatureSchema, *, max_rows: int) -> FeatureLayout:
        kinds = []
        for dtype in schema.dtypes:
            try:
                kinds.append(np.dtype(dtype).kind)
            except TypeError:
                kinds.append("O")  # 'category', 'string' ...: pandas names; treat as objects
        missing = tuple(schema.missing_allowed(c) for c in range(schema.count))
        return cls(
            names=tuple(schema.names), kinds=tuple(kinds), max_rows=max_rows, missing=missing
        )

    @property
    def count(self) -> int:
        return len(self.names)

    def allowed_types(self, column: int) -> frozenset[type]:
        kind = self.kinds[column]
        if kind in "iuf":
            return _NUMBER_TYPES
        if kind == "b":
            return frozenset({bool, int})
        return frozenset({str})  # categories: the encoder was fitted on strings

    def describe(self, column: int) -> str:
        kind = self.kinds[column]
        return {
            "i": "an integer-valued number",
            "u": "an integer-valued number",
            "f": "a number",
            "b": "a boolean",
        }.get(kind, "a string")

    def index_of(self, name: str) -> int | None:
        try:
            return self.names.index(name)
        except ValueError:
            return None


def check_row_count(n_rows: int, layout: FeatureLayout) -> None:
    if n_rows == 0:
        raise InvalidInput("empty batch: the request has no rows")
    if n_rows > layout.max_rows:
        raise PayloadTooLarge(
            f"the request has {n_rows} rows; this server accepts at most {layout.max_rows} "
            "per request (--max-batch-rows)"
        )


def rows_to_matrix(rows: Any, layout: FeatureLayout, *, where: str = "instances") -> np.ndarray:
    """A list of rows (lists in feature order, or objects keyed by feature name)."""
    if not isinstance(rows, list):
        raise MalformedRequest(f"{where} must be a list of rows, got {_json_type(rows)}")
    check_row_count(len(rows), layout)
    if isinstance(rows[0], dict):
        rows = _objects_to_lists(rows, layout, where=where)
    if layout.numeric:
        matrix = _fast_numeric(rows, layout)
        if matrix is not None:
            return matrix
    return _slow_rows(rows, layout, where=where)


def check_matrix(
    matrix: np.ndarray, layout: FeatureLayout, *, source: str = "the input"
) -> np.ndarray:
    """A 2-D array from a typed tensor: shape, kinds and finiteness against the schema."""
    if matrix.ndim != 2:
        raise InvalidInput(
            f"expected a 2-D tensor [rows, {layout.count}], got shape {list(matrix.shape)}"
        )
    check_row_count(matrix.shape[0], layout)
    if matrix.shape[1] != layout.count:
        raise InvalidInput(
            f"expected {layout.count} features per row ({', '.join(layout.names)}), got "
            f"{matrix.shape[1]}",
            row=0,
            column=None,
        )
    if matrix.dtype.kind == "O":
        if layout.numeric:  # per-feature inputs hold numbers only; see v2._columns_to_matrix
            matrix = matrix.astype(np.float64)
        else:
            return mixed.normalise(matrix, layout, source=source)
    elif not layout.numeric:
        column = next(c for c, kind in enumerate(layout.kinds) if kind not in "biuf")
        name = layout.names[column]
        raise InvalidInput(
            f"{source} holds numbers but feature {name!r} holds strings; send a BYTES "
            "tensor, or one tensor per feature",
            column=column,
            feature=name,
        )
    if matrix.dtype.kind in "fc":
        _check_finite(matrix, layout)
    if layout.numeric and matrix.dtype != np.float64:
        matrix = matrix.astype(np.float64)
    return matrix


# -- internals ---------------------------------------------------------------------------


def _fast_numeric(rows: list[Any], layout: FeatureLayout) -> np.ndarray | None:
    """The happy path in C loops; None when anything is off (the slow path says what)."""
    try:
        matrix = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    if matrix.ndim != 2 or matrix.shape[1] != layout.count:
        return None
    # np.array happily turns "1.5" and True into floats; JSON types must be checked apart.
    types = set(map(type, chain.from_iterable(rows)))
    if not types <= _NUMBER_TYPES:  # booleans, strings, null: the slow path says where
        return None
    if not in_range(matrix).all():
        return None
    return matrix


def _slow_rows(rows: list[Any], layout: FeatureLayout, *, where: str) -> np.ndarray:
    """Walk every value; raise at the first problem, naming its row and column."""
    width = layout.count
    out_numeric = layout.numeric
    values: list[list[Any]] = []
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            raise InvalidInput(
                f"{where}[{r}] must be a list of {width} feature values, got {_json_type(row)}",
                row=r,
            )
        if len(row) != width:
            raise InvalidInput(
                f"{where}[{r}] has {len(row)} values; the model expects {width} "
                f"({', '.join(layout.names)})",
                row=r,
            )
        for c, value in enumerate(row):
            _check_value(value, layout, row=r, column=c)
        values.append(row)
    if out_numeric:
        try:
            matrix = np.array(values, dtype=np.float64)
        except OverflowError as exc:  # an integer too large for float64
            raise InvalidInput(f"a value in {where} is too large for a float") from exc
        _check_finite(matrix, layout)
        return matrix
    matrix = np.empty((len(values), width), dtype=object)
    for r, row in enumerate(values):
        matrix[r, :] = row
    return mixed.normalise(matrix, layout, source=where)


def _check_value(value: Any, layout: FeatureLayout, *, row: int, column: int) -> None:
    name = layout.names[column]
    if value is None or (type(value) is float and math.isnan(value)):
        if layout.missing[column]:
            return
        raise mixed.missing_refused(layout, row, column, source="instances")
    if type(value) not in layout.allowed_types(column):
        raise InvalidInput(
            f"row {row}, column {column} ({name!r}): expected {layout.describe(column)}, "
            f"got {_json_type(value)} {_short(value)}",
            row=row,
            column=column,
            feature=name,
        )
    if type(value) is float and not math.isfinite(value):
        raise InvalidInput(
            f"row {row}, column {column} ({name!r}): {value} is not a finite number",
            row=row,
            column=column,
            feature=name,
        )
    if type(value) is int and layout.kinds[column] in "f" and abs(value) > 1.7e308:
        raise InvalidInput(
            f"row {row}, column {column} ({name!r}): {_short(value)} is out of range",
            row=row,
            column=column,
            feature=name,
        )


def _check_finite(matrix: np.ndarray, layout: FeatureLayout) -> None:
    finite = in_range(matrix)
    if finite.all():
        return
    if any(layout.missing):  # NaN is a missing value where the pipeline takes one
        finite |= np.isnan(matrix) & np.asarray(layout.missing)
        if finite.all():
            return
    r, c = (int(i) for i in np.argwhere(~finite)[0])
    name = layout.names[c] if c < layout.count else None
    if np.isnan(matrix[r, c]) and c < layout.count:
        raise mixed.missing_refused(layout, r, c, source="the input")
    if np.isfinite(matrix[r, c]):
        raise InvalidInput(
            f"row {r}, column {c} ({name!r}): {matrix[r, c]} is out of range (beyond "
            f"±{FLOAT32_MAX:.4g})",
            row=r,
            column=c,
            feature=name,
        )
    raise InvalidInput(
        f"row {r}, column {c} ({name!r}): {matrix[r, c]} is not a finite number "
        "(NaN and ±Inf are not accepted)",
        row=r,
        column=c,
        feature=name,
    )


def _objects_to_lists(rows: list[Any], layout: FeatureLayout, *, where: str) -> list[list[Any]]:
    names = layout.names
    wanted = set(names)
    out = []
    for r, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidInput(
                f"{where}[{r}] must be an object like {where}[0], got {_json_type(row)}", row=r
            )
        if row.keys() != wanted:
            missing = [n for n in names if n not in row]
            unknown = sorted(k for k in row if k not in wanted)
            parts = []
            if missing:
                parts.append(f"missing feature(s) {', '.join(map(repr, missing))}")
            if unknown:
                parts.append(f"unknown feature(s) {', '.join(map(repr, unknown))}")
            column = layout.index_of(missing[0]) if missing else None
            raise InvalidInput(
                f"{where}[{r}]: {'; '.join(parts)}; expected exactly {', '.join(names)}",
                row=r,
                column=column,
                feature=missing[0] if missing else unknown[0],
            )
        out.append([row[n] for n in names])
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
