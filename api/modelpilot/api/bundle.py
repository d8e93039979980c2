"""The model bundle: the one on-disk format the trainer writes and the server reads.

A revision's directory `STORE/NAMESPACE/NAME/UID/vN/` (`names.bundle_subpath`) holds
`model.joblib` and `metadata.json`. UID is the ModelDeployment's metadata.uid: a
ModelDeployment deleted and created again under the same name is another object, and its
v1 is not its predecessor's v1.

A joblib file runs code when it is loaded, so the sha256 that the operator records in status
is the trust anchor, and what is hashed is what is unpickled: `load_bundle` opens
model.joblib once (O_NOFOLLOW: a symlink is refused), reads its bytes, checks them against
the digest, and unpickles *those bytes* — a file swapped or renamed after the check is never
read again. It also refuses a model pickled by other library versions than the running ones
(it may load and then mispredict), and a bundle bound to another object or spec
(`owner_uid`, `spec_hash` in metadata.json) than the caller expects.

A bundle is complete once metadata.json exists: `write_bundle` writes both files in a
staging directory inside the revision directory (which may be a volume mount the trainer
cannot replace), moves model.joblib into place and links metadata.json last, which fails if
one is already there, so a revision is never overwritten.

Errors (all `BundleError`):
    BundleNotFound        the directory or one of its files is missing
    BundleInvalid         metadata.json is unreadable or not this schema; model.joblib is
                          not a regular file (a symlink, a directory)
    BundleDigestMismatch  model.joblib is not the file the operator trusted
    BundleVersionSkew     trained with other Python/scikit-learn/joblib/numpy versions
    BundleNotBound        trained for another ModelDeployment (UID) or another spec
    BundleExists          a revision directory is never overwritten
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import platform
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from modelpilot.api.drift import DriftReference

SCHEMA_VERSION = 1
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
STAGING_PREFIX = ".staging-"  # a trainer's unfinished write, inside its revision directory


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


class BundleNotBound(BundleError):
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
    dtypes: list[str]  # numpy/pandas dtype names, one per feature
    # Per feature: does the fitted pipeline take a missing value (NaN) there? Decided by the
    # trainer from the fitted model (trainer/missing.py). None (bundles written before this
    # field existed): no feature does, so the server refuses missing values as before.
    accepts_missing: list[bool] | None = None

    def missing_allowed(self, column: int) -> bool:
        return self.accepts_missing is not None and self.accepts_missing[column]

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
    verdict: str  # modelpilot.api.gate.GateVerdict
    message: str
    training_rows: int
    holdout_rows: int
    fit_seconds: float | None = None


class PretrainedRecord(BaseModel):
    """Where a model trained elsewhere came from (spec.training.pretrained). The bundle's own
    model.joblib is a new file with its own digest (`model_sha256`): this records the
    source's, which the trainer checked against the spec before unpickling it."""

    model_config = ConfigDict(frozen=True)

    uri: str  # the file unpickled (in an MLflow directory, its pickle)
    sha256: str
    form: str  # "joblib" (a joblib or pickle file) or "mlflow"
    recorded_sklearn: str | None = None  # the version an MLflow MLmodel records


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
    # The binding: metadata.uid of the ModelDeployment whose Job trained it, and the hash of
    # the spec (training + evaluation) it was trained from. None in bundles written outside
    # the operator (a person running `modelpilot train`); the operator always sets both.
    owner_uid: str | None = None
    spec_hash: str | None = None
    # Set when the model was trained elsewhere and only evaluated here; None otherwise.
    pretrained: PretrainedRecord | None = None


@dataclass(frozen=True)
class Binding:
    """What a reader expects a bundle to be bound to; None fields are not checked."""

    owner_uid: str | None = None
    spec_hash: str | None = None

    def check(self, metadata: BundleMetadata, where: object) -> None:
        """Raise BundleNotBound unless `metadata` is bound to this owner and spec."""
        if self.owner_uid is not None and metadata.owner_uid != self.owner_uid:
            raise BundleNotBound(
                f"bundle {where} was trained for ModelDeployment uid "
                f"{metadata.owner_uid or '(none recorded)'}, not {self.owner_uid}: a bundle "
                "of another object is never used"
            )
        if self.spec_hash is not None and metadata.spec_hash != self.spec_hash:
            raise BundleNotBound(
                f"bundle {where} was trained from spec hash "
                f"{metadata.spec_hash or '(none recorded)'}, not {self.spec_hash}"
            )


UNBOUND = Binding()  # check neither owner nor spec (a bundle served or scored by hand)


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


def read_model_bytes(bundle_dir: str | os.PathLike[str]) -> bytes:
    """model.joblib's bytes, from one open() that refuses a symlink and a non-regular file.

    The caller hashes and unpickles these very bytes: nothing opens the path a second time.
    """
    with _open_model(bundle_dir) as handle:
        return handle.read()


def model_digest(bundle_dir: str | os.PathLike[str]) -> str:
    """model.joblib's sha256, read in chunks through the same guarded open()."""
    digest = hashlib.sha256()
    with _open_model(bundle_dir) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open_model(bundle_dir: str | os.PathLike[str]) -> BinaryIO:
    path = Path(bundle_dir) / MODEL_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BundleNotFound(f"no {MODEL_FILE} in {bundle_dir}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BundleInvalid(f"{path} is a symlink: refusing to follow it") from None
        raise BundleNotFound(f"cannot open {path}: {exc.strerror}") from None
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise BundleInvalid(f"{path} is not a regular file")
    return handle


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


def _verify(
    bundle_dir: Path,
    actual: str,
    expected_sha256: str,
    *,
    binding: Binding,
    allow_version_skew: bool,
) -> BundleMetadata:
    """`actual`: the sha256 of the model bytes the caller read (and will load, if it loads)."""
    model_path = bundle_dir / MODEL_FILE
    if not expected_sha256:
        raise BundleDigestMismatch("no expected sha256 given: refusing to load an unverified model")
    if actual != expected_sha256.lower():
        raise BundleDigestMismatch(
            f"{model_path} has sha256 {actual}, expected {expected_sha256}: refusing to load it"
        )
    metadata = read_metadata(bundle_dir)
    if metadata.model_sha256 and metadata.model_sha256 != actual:
        raise BundleDigestMismatch(
            f"{METADATA_FILE} records sha256 {metadata.model_sha256} but {MODEL_FILE} has {actual}"
        )
    binding.check(metadata, bundle_dir)
    skew = version_skew(metadata.versions, running_versions())
    if skew and not allow_version_skew:
        raise BundleVersionSkew(
            f"bundle {bundle_dir} was trained with other library versions ({'; '.join(skew)}); "
            "serve it with a matching image or retrain"
        )
    return metadata


def verify_bundle(
    bundle_dir: str | os.PathLike[str],
    expected_sha256: str,
    *,
    binding: Binding = UNBOUND,
    allow_version_skew: bool = False,
) -> BundleMetadata:
    """Check digest, binding and versions without unpickling anything; return the metadata."""
    bundle_dir = Path(bundle_dir)
    # Streamed: a checker that loads nothing (fetch-bundle, under a small memory limit)
    # never holds the model in memory.
    return _verify(
        bundle_dir,
        model_digest(bundle_dir),
        expected_sha256,
        binding=binding,
        allow_version_skew=allow_version_skew,
    )


def load_bundle(
    bundle_dir: str | os.PathLike[str],
    expected_sha256: str,
    *,
    binding: Binding = UNBOUND,
    allow_version_skew: bool = False,
    after_verify: Callable[[], None] | None = None,
) -> LoadedBundle:
    """Read model.joblib once, verify those bytes, then unpickle the same bytes.

    `after_verify` runs between the check and the unpickling (a seam for tests that swap
    the file there, to show the swap cannot matter).
    """
    bundle_dir = Path(bundle_dir)
    model_bytes = read_model_bytes(bundle_dir)
    metadata = _verify(
        bundle_dir,
        hashlib.sha256(model_bytes).hexdigest(),
        expected_sha256,
        binding=binding,
        allow_version_skew=allow_version_skew,
    )
    if after_verify is not None:
        after_verify()
    import joblib

    model = joblib.load(io.BytesIO(model_bytes))
    return LoadedBundle(metadata=metadata, model=model, path=bundle_dir)


def remove_staging(bundle_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete what killed writers left in a revision directory; returns what was removed."""
    removed = []
    with os.scandir(bundle_dir) as entries:
        for entry in entries:
            if entry.name.startswith(STAGING_PREFIX) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(Path(entry.path))
    return removed


def write_bundle(
    model: Any, metadata: BundleMetadata, bundle_dir: str | os.PathLike[str]
) -> BundleMetadata:
    """Write into the revision directory; never overwrite a complete bundle.

    The directory may already exist (it is the training pod's volume mount) but must not
    hold metadata.json. Both files are written in a staging directory inside it first;
    model.joblib is moved into place, then metadata.json is hard-linked, which fails if one
    appeared meanwhile: a bundle is complete exactly when metadata.json exists, and readers
    check model.joblib against the digest recorded there.

    Returns the metadata with `model_sha256` filled in.
    """
    import joblib

    bundle_dir = Path(bundle_dir)
    if (bundle_dir / METADATA_FILE).exists():
        raise BundleExists(f"{bundle_dir} already holds a bundle; a revision is never overwritten")
    bundle_dir.mkdir(parents=True, exist_ok=True)
    remove_staging(bundle_dir)  # a killed attempt's leftovers (the SIGTERM path cleans its own)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=bundle_dir))
    try:
        joblib.dump(model, staging / MODEL_FILE)
        final = metadata.model_copy(update={"model_sha256": sha256_file(staging / MODEL_FILE)})
        (staging / METADATA_FILE).write_text(
            json.dumps(final.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
        )
        for name in (MODEL_FILE, METADATA_FILE):
            os.chmod(staging / name, 0o644)
        with contextlib.suppress(OSError):  # a mount point we do not own keeps its mode
            os.chmod(bundle_dir, 0o755)
        if (bundle_dir / METADATA_FILE).exists():
            raise BundleExists(f"{bundle_dir} was completed while writing")
        os.replace(staging / MODEL_FILE, bundle_dir / MODEL_FILE)
        try:
            # link() never replaces: a concurrent writer of the same revision that finished
            # first keeps its bundle (and ours fails the digest check if the models differ).
            os.link(staging / METADATA_FILE, bundle_dir / METADATA_FILE)
        except FileExistsError as exc:
            raise BundleExists(f"{bundle_dir} was completed while writing: {exc}") from exc
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
