"""The model bundle: the one on-disk format the trainer writes and the server reads.

A revision's directory `STORE/NAMESPACE/NAME/vN/` holds `model.joblib` and `metadata.json`.
A joblib file runs code when it is loaded, so the sha256 that the operator records in status
is the trust anchor: `load_bundle` checks the file against it *before* unpickling, and it
also refuses a model pickled by other library versions than the running ones, because such a
model may load and then mispredict.

Errors (all `BundleError`):
    BundleNotFound        the directory or one of its files is missing
    BundleInvalid         metadata.json is unreadable or not this schema
    BundleDigestMismatch  model.joblib is not the file the operator trusted
    BundleVersionSkew     trained with other Python/scikit-learn/joblib/numpy versions
    BundleExists          a revision directory is never overwritten
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelpilot.api.drift import DriftReference

SCHEMA_VERSION = 1
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"


class BundleError(Exception):
    """A bundle cannot be written or trusted."""


class BundleNotFound(BundleError):
    pass


class BundleInvalid(BundleError):
    pass


class BundleDigestMismatch(BundleError):
    pass


class BundleVersionSkew(BundleError):
    pass


class BundleExists(BundleError):
    pass


class LibraryVersions(BaseModel):
    model_config = ConfigDict(frozen=True)

    python: str  # major.minor.micro
    sklearn: str
    joblib: str
    numpy: str


class FeatureSchema(BaseModel):
    model_config = ConfigDict(frozen=True)

    names: list[str]
    dtypes: list[str]  # numpy dtype names, one per feature

    @property
    def count(self) -> int:
        return len(self.names)


class EvaluationRecord(BaseModel):
    """The gate as the trainer saw it: lets a retried training pod re-report its summary."""

    model_config = ConfigDict(frozen=True)

    metric: str
    candidate_score: float
    stable_score: float | None = None  # same holdout; None when there was no stable model
    stable_revision: str | None = None
    stable_model_sha256: str | None = None
    verdict: str  # modelpilot.api.gate.Verdict
    message: str
    training_rows: int
    holdout_rows: int
    fit_seconds: float | None = None


class BundleMetadata(BaseModel):
    """Everything known about a trained model; `metadata.json` verbatim."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = SCHEMA_VERSION
    name: str
    namespace: str
    revision: str
    created_at: str  # RFC 3339, UTC
    task: str  # modelpilot.api.metrics.Task
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    features: FeatureSchema
    classes: list[Any] | None = None  # classification only, in predict_proba column order
    training_data_sha256: str
    holdout_sha256: str
    metrics: dict[str, float]
    versions: LibraryVersions
    model_sha256: str = ""
    # Regression only: [min, max] of the holdout predictions, for histogram buckets.
    prediction_range: tuple[float, float] | None = None
    evaluation: EvaluationRecord | None = None  # written by the trainer; optional for readers
    # The training inputs' statistics (modelpilot.api.drift); None in bundles from before it.
    # Not covered by the model digest: it only ever feeds drift counts, never code.
    drift_reference: DriftReference | None = None


@dataclass(frozen=True)
class LoadedBundle:
    metadata: BundleMetadata
    model: Any
    path: Path


def running_versions() -> LibraryVersions:
    """The versions of the libraries a model depends on, in this process."""
    import joblib
    import numpy
    import sklearn

    return LibraryVersions(
        python=platform.python_version(),
        sklearn=sklearn.__version__,
        joblib=joblib.__version__,
        numpy=numpy.__version__,
    )


def version_skew(trained: LibraryVersions, running: LibraryVersions) -> list[str]:
    """Each library whose version differs, as 'name trained X, running Y'.

    Python is compared by major.minor: pickles are stable across micro releases.
    """
    out = []
    for field in ("python", "sklearn", "joblib", "numpy"):
        a, b = getattr(trained, field), getattr(running, field)
        if field == "python":
            a, b = ".".join(a.split(".")[:2]), ".".join(b.split(".")[:2])
        if a != b:
            trained_v, running_v = getattr(trained, field), getattr(running, field)
            out.append(f"{field} trained {trained_v}, running {running_v}")
    return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_metadata(bundle_dir: str | os.PathLike[str]) -> BundleMetadata:
    path = Path(bundle_dir) / METADATA_FILE
    if not path.is_file():
        raise BundleNotFound(f"no {METADATA_FILE} in {bundle_dir}")
    try:
        metadata = BundleMetadata.model_validate_json(path.read_bytes())
    except ValueError as exc:
        raise BundleInvalid(f"{path} is not a modelpilot bundle metadata file: {exc}") from exc
    if metadata.schema_version != SCHEMA_VERSION:
        raise BundleInvalid(
            f"{path} has schema version {metadata.schema_version}; this build reads "
            f"{SCHEMA_VERSION}"
        )
    return metadata


def verify_bundle(
    bundle_dir: str | os.PathLike[str],
    expected_sha256: str,
    *,
    allow_version_skew: bool = False,
) -> BundleMetadata:
    """Check digest and versions without unpickling anything; return the metadata."""
    bundle_dir = Path(bundle_dir)
    model_path = bundle_dir / MODEL_FILE
    if not model_path.is_file():
        raise BundleNotFound(f"no {MODEL_FILE} in {bundle_dir}")
    if not expected_sha256:
        raise BundleDigestMismatch("no expected sha256 given: refusing to load an unverified model")
    actual = sha256_file(model_path)
    if actual != expected_sha256.lower():
        raise BundleDigestMismatch(
            f"{model_path} has sha256 {actual}, expected {expected_sha256}: refusing to load it"
        )
    metadata = read_metadata(bundle_dir)
    if metadata.model_sha256 and metadata.model_sha256 != actual:
        raise BundleDigestMismatch(
            f"{METADATA_FILE} records sha256 {metadata.model_sha256} but {MODEL_FILE} has {actual}"
        )
    skew = version_skew(metadata.versions, running_versions())
    if skew and not allow_version_skew:
        raise BundleVersionSkew(
            f"bundle {bundle_dir} was trained with other library versions ({'; '.join(skew)}); "
            "serve it with a matching image or retrain"
        )
    return metadata


def load_bundle(
    bundle_dir: str | os.PathLike[str],
    expected_sha256: str,
    *,
    allow_version_skew: bool = False,
) -> LoadedBundle:
    """Verify, then unpickle. Nothing is unpickled unless the digest matches."""
    metadata = verify_bundle(bundle_dir, expected_sha256, allow_version_skew=allow_version_skew)
    import joblib

    model = joblib.load(Path(bundle_dir) / MODEL_FILE)
    return LoadedBundle(metadata=metadata, model=model, path=Path(bundle_dir))


def write_bundle(
    model: Any, metadata: BundleMetadata, bundle_dir: str | os.PathLike[str]
) -> BundleMetadata:
    """Write atomically (temporary sibling, then rename); never overwrite a revision.

    Returns the metadata with `model_sha256` filled in.
    """
    import joblib

    bundle_dir = Path(bundle_dir)
    if bundle_dir.exists():
        raise BundleExists(f"{bundle_dir} already exists; a revision is never overwritten")
    bundle_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle_dir.name}-", dir=bundle_dir.parent))
    try:
        joblib.dump(model, staging / MODEL_FILE)
        final = metadata.model_copy(update={"model_sha256": sha256_file(staging / MODEL_FILE)})
        (staging / METADATA_FILE).write_text(
            json.dumps(final.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
        )
        os.chmod(staging, 0o755)
        try:
            # rename() onto an existing non-empty directory fails, so a concurrent writer
            # of the same revision cannot be clobbered.
            os.rename(staging, bundle_dir)
        except OSError as exc:
            raise BundleExists(f"{bundle_dir} appeared while writing: {exc}") from exc
        return final
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
