"""spec.training.dataset.include [feedback]: the labelled logged requests, appended as rows.

The serving pods write sampled requests (`requests-*.parquet`) and the labels fed back for
them (`labels-*.parquet`) below STORE/NS/NAME/UID/predictions/vN/ (modelpilot.serving
.prediction_log). Here every revision's files are read, requests and labels are joined on
(request id, row), and each joined row becomes a training row: the features as the model
received them, the label as the target.

Deduplicated by request id: a request logged twice (a client that reused its id) counts
once, its newest log; a row labelled twice counts once, its newest label. Rows whose files
lack a feature of this dataset (logged by a revision with another schema) are left out and
counted in the note. Logged values come back as the dataset's own dtypes where they fit
(an integer column logged as float64, a boolean as 0/1), so the appended rows look like the
file's. The result is new data: its fingerprint differs from what stable was trained on, so
the holdout is taken by content (splitting.fair_split), and a row keeps its side across
revisions as labels accumulate.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from modelpilot.trainer.datasets import LoadedData, fingerprint
from modelpilot.trainer.errors import DataError

REQUEST_ID, ROW, LOGGED_AT, LABEL, LABELLED_AT = (
    "_request_id",
    "_row",
    "_logged_at",
    "_label",
    "_labelled_at",
)


@dataclasses.dataclass(frozen=True)
class FeedbackRows:
    features: pd.DataFrame
    target: pd.Series
    note: str  # what was found, for the trainer's log


def read_feedback(directory: Path, *, features: list[str], target: str) -> FeedbackRows:
    """The labelled logged rows below `directory` (every revision's subdirectory)."""
    if not directory.is_dir():
        raise DataError(
            f"dataset.include [feedback]: the prediction log directory {directory} does not exist"
        )
    frames, skipped = [], 0
    for path in sorted(directory.glob("*/requests-*.parquet")):
        frame = _read(path)
        if all(c in frame.columns for c in features):
            frames.append(frame[[REQUEST_ID, ROW, LOGGED_AT, *features]])
        else:
            skipped += len(frame)
    labels = [_read(p) for p in sorted(directory.glob("*/labels-*.parquet"))]
    requests = pd.concat(frames, ignore_index=True) if frames else None
    labelled = pd.concat(labels, ignore_index=True) if labels else None
    counts = (
        f"{0 if requests is None else len(requests)} logged rows, "
        f"{0 if labelled is None else len(labelled)} labels"
        + (f", {skipped} logged rows of another schema left out" if skipped else "")
    )
    if requests is None or labelled is None or requests.empty or labelled.empty:
        return FeedbackRows(
            pd.DataFrame(columns=features),
            pd.Series(name=target, dtype=object),
            f"feedback: no labelled logged requests yet ({counts})",
        )
    requests = requests.sort_values(LOGGED_AT, kind="stable").drop_duplicates(
        [REQUEST_ID, ROW], keep="last"
    )
    labelled = labelled.sort_values(LABELLED_AT, kind="stable").drop_duplicates(
        [REQUEST_ID, ROW], keep="last"
    )
    joined = requests.merge(labelled[[REQUEST_ID, ROW, LABEL]], on=[REQUEST_ID, ROW], how="inner")
    joined = joined.sort_values([REQUEST_ID, ROW], kind="stable").reset_index(drop=True)
    return FeedbackRows(
        features=joined[features],
        target=joined[LABEL].rename(target),
        note=f"feedback: {len(joined)} labelled rows appended ({counts})",
    )


def append_feedback(data: LoadedData, rows: FeedbackRows) -> LoadedData:
    """`data` with the feedback rows after its own, in its dtypes, fingerprinted anew."""
    if rows.features.empty:
        return dataclasses.replace(data, warnings=(*data.warnings, rows.note))
    extra = _as_dtypes(rows.features, data.features.dtypes)
    target = _as_dtype(rows.target, data.target.dtype)
    features = pd.concat([data.features, extra], ignore_index=True)
    labels = pd.concat([data.target, target], ignore_index=True).rename(data.target.name)
    weights = None
    if data.weights is not None:
        ones = pd.Series(1.0, index=range(len(extra)), name=data.weights.name)
        weights = pd.concat([data.weights, ones], ignore_index=True)
    used = pd.concat([features, labels, *([weights] if weights is not None else [])], axis=1)
    return dataclasses.replace(
        data,
        features=features,
        target=labels,
        weights=weights,
        sha256=fingerprint(used),
        source=f"{data.source} + feedback",
        warnings=(*data.warnings, rows.note),
    )


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as error:  # parser errors have no common base
        raise DataError(
            f"dataset.include [feedback]: cannot read {path.parent.name}/{path.name}: "
            f"{type(error).__name__}: {error}"
        ) from error


def _as_dtypes(frame: pd.DataFrame, dtypes: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({c: _as_dtype(frame[c], dtypes[c]) for c in frame.columns})


def _as_dtype(column: pd.Series, dtype: object) -> pd.Series:
    """The logged column in the dataset's dtype when every value fits it, else as logged."""
    try:
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
            if column.isna().any():
                return column
            return column.astype(dtype)  # type: ignore[call-overload]
        if pd.api.types.is_float_dtype(dtype):
            return pd.to_numeric(column).astype(dtype)  # type: ignore[call-overload]
        return column.astype(dtype)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return column
