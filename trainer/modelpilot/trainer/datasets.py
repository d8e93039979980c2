"""Loading the training data named by `spec.training.dataset` into one DataFrame.

Bundled scikit-learn datasets by name, or CSV/Parquet: a local path or `file://` URI, a
path on dataset.pvc's claim, an s3:// object, prefix or glob (modelpilot.api.s3, with the
access spec.training.dataset.s3 or spec.modelStore.s3 gives the pod), or any other fsspec
URI (gs://, ... when the matching fsspec backend is installed). A directory, prefix or glob
is read as the parts modelpilot.trainer.sources lists, in name order, after the size check
(modelpilot.trainer.datasize). Every problem a model owner can fix in their data is a
DataError that names the column or the URI. The data
fingerprint is taken here, on the data exactly as loaded, so two revisions trained on the
same bytes-as-parsed share it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelpilot.api.spec import Dataset
from modelpilot.trainer.datasize import check_size
from modelpilot.trainer.errors import DataError, SpecError
from modelpilot.trainer.sources import Part, Source, list_local, list_s3, local_path

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


def load_dataset(
    spec: Dataset, *, weight: str | None = None, env: Mapping[str, str] | None = None
) -> LoadedData:
    """The data set's features and target (and `weight`'s column: spec.training.sampleWeight).

    `env` (os.environ when None) holds what the pod was given: the S3 access of an s3://
    dataset, where dataset.pvc's claim is mounted, and the size limit (datasize)."""
    env = os.environ if env is None else env
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if spec.builtin is not None:
            frame, default_targets, source = _load_builtin(spec.builtin)
        else:
            frame, default_targets, source = _read(spec, env), [], spec.location
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


def list_source(spec: Dataset, env: Mapping[str, str]) -> Source | None:
    """The parts of a dataset.uri or dataset.pvc (nothing read but the listing); None for a
    builtin data set or a URI of another fsspec scheme (read as one file)."""
    if spec.builtin is not None:
        return None
    if spec.uri is not None and spec.uri.startswith("s3://"):
        from modelpilot.api import s3

        try:
            client = s3.client(s3.data_endpoint_from_env(env))
        except s3.ObjectStoreError as exc:
            raise DataError(f"cannot read dataset {spec.uri}: {exc}") from exc
        return list_s3(client, spec.uri)
    path, where = local_path(spec, dict(env))
    if "://" in path:
        return None
    return list_local(path, where)


def _read(spec: Dataset, env: Mapping[str, str]) -> pd.DataFrame:
    source = list_source(spec, env)
    if source is None:
        assert spec.uri is not None
        return _read_fsspec(spec.uri, spec.format)
    check_size(where=source.where, total=source.total_bytes, parts=len(source.parts), env=env)
    return read_parts(source, spec.format, env)


def read_parts(source: Source, fmt: str | None, env: Mapping[str, str]) -> pd.DataFrame:
    """The parts' rows in name order; Hive directories (year=2026/) become columns."""
    if source.single:
        [part] = source.parts
        return _read_part(source, part, fmt or _infer_format(source.where), env)
    formats = {p.name: fmt or _infer_format(p.name, where=source.where) for p in source.parts}
    if len(set(formats.values())) > 1:
        raise DataError(
            f"dataset {source.where} mixes formats ({', '.join(sorted(set(formats.values())))}); "
            "name the parts of one format (a glob such as *.parquet) or set dataset.format"
        )
    frames = []
    for part in source.parts:
        frame = _read_part(source, part, formats[part.name], env)
        for column, value in hive_partitions(part.name).items():
            if column in frame.columns:
                raise DataError(
                    f"dataset {source.where}: column {column!r} is both in {part.name} and a "
                    "partition directory"
                )
            frame[column] = value
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    for column in {c for p in source.parts for c in hive_partitions(p.name)}:
        frame[column] = _typed(frame[column])
    return frame


def hive_partitions(name: str) -> dict[str, str | None]:
    """'year=2026/region=eu/part-0.parquet' -> {'year': '2026', 'region': 'eu'}."""
    from urllib.parse import unquote

    found: dict[str, str | None] = {}
    for segment in name.split("/")[:-1]:
        key, sep, value = segment.partition("=")
        if sep and key:
            found[unquote(key)] = None if value == HIVE_NULL else unquote(value)
    return found


HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def _typed(column: pd.Series) -> pd.Series:
    """Whole numbers become int64 (float64 with a missing one), the rest stays text."""
    present = column.dropna()
    if len(present) and all(re.fullmatch(r"-?[0-9]+", str(v)) for v in present):
        numbers = pd.to_numeric(column)
        return numbers.astype("int64") if not column.isna().any() else numbers
    return column.astype(object)


def _read_part(source: Source, part: Part, fmt: str, env: Mapping[str, str]) -> pd.DataFrame:
    where = source.where if source.single else f"{source.where} (part {part.name})"
    try:
        if source.bucket is None:
            return _parse(part.location, fmt)
        from modelpilot.api import s3

        try:
            client = s3.client(s3.data_endpoint_from_env(env))
            body = s3.read(client, source.bucket, part.location)
        except s3.ObjectNotFound as exc:
            raise DataError(f"dataset {where} does not exist ({exc})") from exc
        except s3.ObjectStoreError as exc:
            raise DataError(f"cannot read dataset {exc}") from exc
        suffix = "." + part.location.rsplit(".", 1)[-1].lower() if "." in part.location else ""
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(body))
        return pd.read_csv(io.BytesIO(body), compression=_COMPRESSION.get(suffix))
    except DataError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"dataset {where} does not exist") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"dataset {where} is empty (no header, no rows)") from exc
    except Exception as exc:  # pandas/pyarrow parser errors have no common base
        raise DataError(
            f"cannot read dataset {where} as {fmt}: {type(exc).__name__}: {exc}"
        ) from exc


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


def _read_fsspec(uri: str, fmt: str | None) -> pd.DataFrame:
    """A URI of another scheme, as one file through fsspec (gcsfs, adlfs, ... when a
    platform's own trainer image installs them; policy.datasetSchemes admits only s3 by
    default)."""
    fmt = fmt or _infer_format(uri)
    try:
        import fsspec

        with fsspec.open(uri, "rb", compression="infer") as handle:
            return _parse(handle, fmt)
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


def _parse(source: Any, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(source)
    return pd.read_csv(source)


def _infer_format(uri: str, *, where: str | None = None) -> str:
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
    of = uri if where is None else f"{where} (part {uri})"
    raise DataError(
        f"cannot tell the format of {of} from its extension; set dataset.format to csv or parquet"
    )


def _listing(columns: list[str], limit: int = 20) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")
