"""Loading the training data named by `spec.training.dataset` into one DataFrame.

Bundled scikit-learn datasets by name, or CSV/Parquet from a local path, `file://` URI, an
s3:// object (modelpilot.api.s3, with the access spec.training.dataset.s3 or
spec.modelStore.s3 gives the pod), or any other fsspec URI (gs://, ... when the matching
fsspec backend is installed). Every problem a
model owner can fix in their data is a DataError that names the column or the URI. The data
fingerprint is taken here, on the data exactly as loaded, so two revisions trained on the
same bytes-as-parsed share it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelpilot.api.spec import Dataset
from modelpilot.trainer.errors import DataError, SpecError

# Name -> scikit-learn loader. These ship inside scikit-learn: no network needed.
BUILTIN = {
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
    "digits": "load_digits",
    "linnerud": "load_linnerud",
}


@dataclass(frozen=True)
class LoadedData:
    features: pd.DataFrame  # only the feature columns, in spec order
    target: pd.Series
    source: str  # "builtin:iris" or the URI
    sha256: str  # fingerprint of the loaded frame (columns, dtypes, values, index)
    warnings: tuple[str, ...] = ()  # e.g. pandas' mixed-types warning, reported to people
    weights: pd.Series | None = None  # spec.training.sampleWeight's column, when set

    @property
    def rows(self) -> int:
        return len(self.target)


def load_dataset(spec: Dataset, *, weight: str | None = None) -> LoadedData:
    """The data set's features and target (and `weight`'s column: spec.training.sampleWeight)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if spec.builtin is not None:
            frame, default_targets, source = _load_builtin(spec.builtin)
        else:
            assert spec.uri is not None
            frame, default_targets, source = _read_uri(spec.uri, spec.format), [], spec.uri
    target = spec.target
    if target is None:
        if len(default_targets) != 1:
            raise DataError(
                f"dataset {source} has several targets ({', '.join(default_targets)}); "
                "name one in dataset.target"
            )
        target = default_targets[0]
    data = select_columns(
        frame, target=target, features=spec.features, source=source, weight=weight
    )
    notes = tuple(
        dict.fromkeys(f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught)
    )
    return dataclasses.replace(data, warnings=notes)


def select_columns(
    frame: pd.DataFrame,
    *,
    target: str,
    features: list[str] | None,
    source: str,
    weight: str | None = None,
) -> LoadedData:
    """Split a frame into features, target (and weights), rejecting what no estimator can
    learn from."""
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    if target not in columns:
        raise DataError(
            f"target column {target!r} is not in {source}; columns: {_listing(columns)}"
        )
    if weight is not None:
        check_weight_column(frame, weight=weight, target=target, features=features, source=source)
    if features is None:
        features = [c for c in columns if c not in (target, weight)]
    else:
        missing = [c for c in features if c not in columns]
        if missing:
            raise DataError(
                f"feature column(s) {', '.join(map(repr, missing))} not in {source}; "
                f"columns: {_listing(columns)}"
            )
        if target in features:
            raise DataError(f"column {target!r} is both the target and a feature")
    if not features:
        raise DataError(f"{source} has no feature columns besides the target {target!r}")
    if len(frame) == 0:
        raise DataError(f"{source} has no rows")
    y = frame[target]
    missing_target = int(y.isna().sum())
    if missing_target:
        raise DataError(
            f"target column {target!r} has {missing_target} missing (NaN) value(s) in {source}"
        )
    # The weights are part of what was trained on: a changed weight is changed data.
    used = frame[[*features, target, *([weight] if weight is not None else [])]]
    return LoadedData(
        features=frame[features],
        target=y,
        source=source,
        sha256=fingerprint(used),
        weights=None if weight is None else frame[weight].astype(float),
    )


def check_weight_column(
    frame: pd.DataFrame, *, weight: str, target: str, features: list[str] | None, source: str
) -> None:
    """spec.training.sampleWeight names a numeric column of finite weights >= 0, not all 0."""
    if weight not in frame.columns:
        raise DataError(
            f"sampleWeight column {weight!r} is not in {source}; columns: "
            f"{_listing(list(frame.columns))}"
        )
    if weight == target or (features is not None and weight in features):
        raise DataError(
            f"column {weight!r} is the sampleWeight; it cannot also be the "
            f"{'target' if weight == target else 'a feature'}"
        )
    column = frame[weight]
    if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        raise DataError(f"sampleWeight column {weight!r} is not numeric (dtype {column.dtype})")
    values = column.to_numpy(dtype=float)
    bad = int((~np.isfinite(values) | (values < 0)).sum())
    if bad:
        raise DataError(
            f"sampleWeight column {weight!r} has {bad} missing, negative or "
            "infinite value(s); weights are numbers >= 0"
        )
    if len(values) and not values.sum() > 0:
        raise DataError(f"sampleWeight column {weight!r} is 0 on every row")


def fingerprint(frame: pd.DataFrame | pd.Series) -> str:
    """sha256 over column names, dtypes, index and values; stable across runs and machines."""
    digest = hashlib.sha256()
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}\x00{dtype}\x00".encode())
    hashed = pd.util.hash_pandas_object(frame, index=True)
    digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


def _load_builtin(name: str) -> tuple[pd.DataFrame, list[str], str]:
    loader_name = BUILTIN.get(name)
    if loader_name is None:
        raise SpecError(
            f"spec.training.dataset.builtin: unknown dataset {name!r}; known: "
            f"{', '.join(sorted(BUILTIN))}"
        )
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader_name)(as_frame=True)
    target = bunch.target
    targets = (
        [str(c) for c in target.columns] if isinstance(target, pd.DataFrame) else [str(target.name)]
    )
    return bunch.frame, targets, f"builtin:{name}"


def _read_uri(uri: str, fmt: str | None) -> pd.DataFrame:
    fmt = fmt or _infer_format(uri)
    path = uri.removeprefix("file://") if uri.startswith("file://") else uri
    if path.startswith("s3://"):
        return _read_s3(uri, fmt)
    try:
        if "://" in path:
            # Remote: let fsspec open it (s3fs, gcsfs, ... installed by the platform).
            import fsspec

            with fsspec.open(path, "rb", compression="infer") as handle:
                return _parse(handle, fmt)
        return _parse(path, fmt)
    except FileNotFoundError as exc:
        raise DataError(f"dataset {uri} does not exist") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"dataset {uri} is empty (no header, no rows)") from exc
    except (OSError, ValueError, ImportError) as exc:
        raise DataError(f"cannot read dataset {uri} as {fmt}: {exc}") from exc
    except Exception as exc:
        # pandas/pyarrow parser errors have no common base beyond Exception.
        raise DataError(f"cannot read dataset {uri} as {fmt}: {type(exc).__name__}: {exc}") from exc


_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".xz": "xz", ".zip": "zip"}


def _read_s3(uri: str, fmt: str) -> pd.DataFrame:
    """An s3:// object through modelpilot.api.s3, with the access the operator set on the pod
    (modelpilot.api.s3: endpoint, region and the credentials Secret's keys)."""
    import io
    import os

    from modelpilot.api import s3

    try:
        bucket, key = s3.parse_s3_uri(uri)
    except ValueError as exc:
        raise DataError(f"dataset {exc}") from exc
    try:
        client = s3.client(s3.data_endpoint_from_env(os.environ))
        body = s3.read(client, bucket, key)
    except s3.ObjectNotFound as exc:
        raise DataError(f"dataset {uri} does not exist ({exc})") from exc
    except s3.ObjectStoreError as exc:
        raise DataError(f"cannot read dataset {exc}") from exc
    suffix = "." + key.rsplit(".", 1)[-1].lower() if "." in key else ""
    try:
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(body))
        return pd.read_csv(io.BytesIO(body), compression=_COMPRESSION.get(suffix))
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"dataset {uri} is empty (no header, no rows)") from exc
    except Exception as exc:  # parser errors have no common base
        raise DataError(f"cannot read dataset {uri} as {fmt}: {type(exc).__name__}: {exc}") from exc


def _parse(source: Any, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(source)
    return pd.read_csv(source)


def _infer_format(uri: str) -> str:
    lowered = uri.lower()
    for suffix, fmt in (
        (".parquet", "parquet"),
        (".pq", "parquet"),
        (".csv", "csv"),
        (".csv.gz", "csv"),
        (".csv.bz2", "csv"),
        (".csv.zst", "csv"),
    ):
        if lowered.endswith(suffix):
            return fmt
    raise DataError(
        f"cannot tell the format of {uri} from its extension; set dataset.format to csv or parquet"
    )


def _listing(columns: list[str], limit: int = 20) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")
