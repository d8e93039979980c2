"""A model trained elsewhere (`spec.training.pretrained`): read, verified, only then unpickled.

A pickle runs code when it is loaded, so the digest the model owner wrote in the spec is the
trust anchor, exactly as the operator's recorded digest is for a trained bundle
(modelpilot.api.bundle): the file's bytes are read once (a local file with O_NOFOLLOW, an
s3:// object through the store's client), hashed, compared with
`spec.training.pretrained.sha256`, and only then unpickled — from those very bytes. A file
with another digest is never unpickled, whatever lies beside it.

Accepted forms:
- a joblib or pickle file of a fitted estimator or Pipeline (joblib.load reads both);
- an MLflow scikit-learn model directory: `MLmodel` (YAML, read with safe_load: data, never
  code) names the pickle (`flavors.sklearn.pickled_model`, model.pkl) and the scikit-learn
  version it was saved with. The digest is the pickle's. A version other than the running
  one is refused *before* anything is unpickled, since a model pickled by another
  scikit-learn may load and then mispredict.

A plain file records no version outside the pickle; scikit-learn's InconsistentVersionWarning
while unpickling is turned into the same refusal. What was unpickled must be a fitted
scikit-learn classifier or regressor whose parts are all allowed by the platform's estimator
allowlist (the same patterns that bound what is trained here; composition classes such as
Pipeline and ColumnTransformer are structure, not models, and always pass).

Every refusal is a PretrainedError whose message names the file and the problem; the
operator shows it in the ModelDeployment's conditions, and what serves keeps serving.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from modelpilot.api.metrics import Task
from modelpilot.api.spec import Pretrained
from modelpilot.trainer.errors import PretrainedError
from modelpilot.trainer.estimators import detect_task, is_allowed

MLMODEL_FILE = "MLmodel"
MAX_MLMODEL_BYTES = 1 << 20  # an MLmodel file is a few hundred bytes of YAML
# Always allowed: they arrange models, they are not models (the trainer assembles them too).
STRUCTURE = ("sklearn.pipeline.*", "sklearn.compose.*")


@dataclass(frozen=True)
class PretrainedModel:
    model: Any  # the fitted estimator or Pipeline, as unpickled
    task: Task
    import_path: str  # the final estimator's class (a Pipeline's last step)
    final: Any  # that final estimator
    form: str  # "joblib" (a joblib or pickle file) or "mlflow"
    source: str  # the URI, and in an MLflow directory the pickle it names
    sha256: str
    recorded_sklearn: str | None = None  # what MLmodel says it was saved with


def load_pretrained(
    spec: Pretrained,
    *,
    allowlist: Sequence[str],
    env: Mapping[str, str] | None = None,
) -> PretrainedModel:
    """Read, verify against spec.sha256, check versions, unpickle, check what came out."""
    files = _files_for(spec.uri, os.environ if env is None else env)
    mlmodel = files.read_mlmodel()
    recorded = None
    form = "joblib"
    pickle_name: str | None = None
    if mlmodel is not None:
        pickle_name, recorded = _sklearn_flavor(mlmodel, spec.uri)
        form = "mlflow"
    data = files.read_model(pickle_name)
    where = files.describe(pickle_name)
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256.lower():
        raise PretrainedError(
            f"{where} has sha256 {actual}, but spec.training.pretrained.sha256 is "
            f"{spec.sha256}: refusing to unpickle it (a new model needs its new digest in the "
            "spec)"
        )
    running = _running_sklearn()
    if recorded is not None and recorded != running:
        raise PretrainedError(
            f"{where} was saved with scikit-learn {recorded} (its {MLMODEL_FILE} says so) and "
            f"this trainer runs scikit-learn {running}: a model pickled by another version "
            "may load and mispredict; save it again with scikit-learn "
            f"{running}, or use a trainer and serving image with {recorded}"
        )
    model = _unpickle(data, where, running)
    return _checked(
        model, where=where, form=form, sha256=actual, recorded=recorded, allowlist=allowlist
    )


# --- reading --------------------------------------------------------------------------


class _Files:
    """A file or MLflow directory, locally or in S3: the bytes it holds, read once each."""

    def read_mlmodel(self) -> dict[str, Any] | None:  # pragma: no cover - interface
        raise NotImplementedError

    def read_model(self, pickle_name: str | None) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self, pickle_name: str | None) -> str:  # pragma: no cover - interface
        raise NotImplementedError


def _files_for(uri: str, env: Mapping[str, str]) -> _Files:
    if uri.startswith("s3://"):
        return _S3Files(uri, env)
    return _LocalFiles(Path(uri.removeprefix("file://")), uri)


def _parse_mlmodel(text: bytes, where: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PretrainedError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise PretrainedError(f"{where} is not an MLflow MLmodel file (not a mapping)")
    return document


@dataclass(frozen=True)
class _LocalFiles(_Files):
    path: Path
    uri: str

    def read_mlmodel(self) -> dict[str, Any] | None:
        try:
            is_dir = stat.S_ISDIR(os.lstat(self.path).st_mode)
        except FileNotFoundError:
            raise PretrainedError(
                f"{self.uri} does not exist: put the model file on the model-store claim at "
                "that path (or fix spec.training.pretrained.uri)"
            ) from None
        except OSError as exc:
            raise PretrainedError(f"cannot read {self.uri}: {exc.strerror or exc}") from exc
        if not is_dir:
            return None
        mlmodel = self.path / MLMODEL_FILE
        if not mlmodel.is_file():
            raise PretrainedError(
                f"{self.uri} is a directory without an {MLMODEL_FILE} file: name a joblib or "
                "pickle file, or an MLflow scikit-learn model directory"
            )
        return _parse_mlmodel(_read_regular(mlmodel, limit=MAX_MLMODEL_BYTES), str(mlmodel))

    def read_model(self, pickle_name: str | None) -> bytes:
        return _read_regular(self.path if pickle_name is None else self.path / pickle_name)

    def describe(self, pickle_name: str | None) -> str:
        return self.uri if pickle_name is None else f"{self.uri.rstrip('/')}/{pickle_name}"


def _read_regular(path: Path, *, limit: int | None = None) -> bytes:
    """The bytes of a regular file, opened once without following a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise PretrainedError(f"{path} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PretrainedError(f"{path} is a symlink: refusing to follow it") from None
        raise PretrainedError(f"cannot open {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise PretrainedError(f"{path} is not a regular file")
        data = handle.read() if limit is None else handle.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise PretrainedError(f"{path} is larger than {limit} bytes")
    return data


class _S3Files(_Files):
    """An object (a joblib/pickle file) or a key prefix holding MLmodel, in the store's
    bucket, read with the store's access (the spec requires spec.modelStore.s3)."""

    def __init__(self, uri: str, env: Mapping[str, str]) -> None:
        from modelpilot.api import s3

        self.uri = uri
        self._s3 = s3
        try:
            self.bucket, key = s3.parse_s3_uri(uri.rstrip("/"))
        except ValueError as exc:
            raise PretrainedError(f"spec.training.pretrained.uri: {exc}") from exc
        self.key = key
        found = s3.store_from_env(env)
        if found is None:
            raise PretrainedError(
                f"{uri} is in S3 but this trainer has no S3 access: an s3:// pretrained model "
                "needs spec.modelStore.s3"
            )
        self.client = s3.client(found[1])
        self._object: bytes | None = None

    def _get(self, key: str) -> bytes | None:
        try:
            return bytes(self._s3.read(self.client, self.bucket, key))
        except self._s3.ObjectNotFound:
            return None
        except self._s3.ObjectStoreError as exc:
            raise PretrainedError(f"cannot read {self.uri}: {exc}") from exc

    def read_mlmodel(self) -> dict[str, Any] | None:
        self._object = self._get(self.key)
        if self._object is not None:
            return None  # the URI names an object: a joblib or pickle file
        text = self._get(f"{self.key}/{MLMODEL_FILE}")
        if text is None:
            raise PretrainedError(
                f"{self.uri} does not exist (neither an object nor an MLflow model directory "
                f"with {MLMODEL_FILE}): upload the model there (or fix "
                "spec.training.pretrained.uri)"
            )
        return _parse_mlmodel(text, f"{self.uri.rstrip('/')}/{MLMODEL_FILE}")

    def read_model(self, pickle_name: str | None) -> bytes:
        if pickle_name is None:
            assert self._object is not None
            return self._object
        data = self._get(f"{self.key}/{pickle_name}")
        if data is None:
            raise PretrainedError(f"{self.describe(pickle_name)} does not exist")
        return data

    def describe(self, pickle_name: str | None) -> str:
        return self.uri if pickle_name is None else f"{self.uri.rstrip('/')}/{pickle_name}"


# --- MLflow ---------------------------------------------------------------------------


def _sklearn_flavor(mlmodel: Mapping[str, Any], uri: str) -> tuple[str, str | None]:
    """(the pickle's file name, the scikit-learn version it was saved with) from MLmodel."""
    flavors = mlmodel.get("flavors")
    flavor = flavors.get("sklearn") if isinstance(flavors, dict) else None
    if not isinstance(flavor, dict):
        names = ", ".join(map(str, flavors)) if isinstance(flavors, dict) else "none"
        raise PretrainedError(
            f"the MLflow model at {uri} has no sklearn flavor (flavors: {names}): only "
            "scikit-learn models are served"
        )
    fmt = str(flavor.get("serialization_format", "cloudpickle"))
    if fmt not in ("cloudpickle", "pickle"):
        raise PretrainedError(
            f"the MLflow model at {uri} is serialized as {fmt!r}; save it with "
            "serialization_format 'cloudpickle' or 'pickle'"
        )
    name = str(flavor.get("pickled_model", "model.pkl"))
    pure = PurePosixPath(name)
    if pure.is_absolute() or len(pure.parts) != 1 or name in (".", ".."):
        raise PretrainedError(
            f"the MLflow model at {uri} names the pickle {name!r}; it must be a file in that "
            "directory"
        )
    version = flavor.get("sklearn_version")
    return name, None if version is None else str(version)


# --- unpickling and what came out -----------------------------------------------------


def _running_sklearn() -> str:
    import sklearn

    return str(sklearn.__version__)


def _unpickle(data: bytes, where: str, running: str) -> Any:
    """joblib.load of the verified bytes (it reads plain pickles too); a scikit-learn
    version warning is a refusal."""
    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = joblib.load(io.BytesIO(data))
        except Exception as exc:  # unpickling errors have no common base
            raise PretrainedError(
                f"{where} cannot be unpickled: {type(exc).__name__}: {exc} (a joblib or "
                "pickle file of a scikit-learn model, saved with the versions this image "
                "runs, is expected)"
            ) from exc
    for warning in caught:
        message = warning.message
        if isinstance(message, InconsistentVersionWarning):
            raise PretrainedError(
                f"{where} was pickled with scikit-learn {message.original_sklearn_version} "
                f"and this trainer runs scikit-learn {running}: a model pickled by another "
                f"version may load and mispredict; save it again with scikit-learn {running}"
            )
    return model


def class_path(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def public_path(obj: Any) -> str:
    """The shortest import path that names the object's class, as the allowlist and the docs
    do: `sklearn.ensemble.HistGradientBoostingRegressor`, not its private module's path.
    Only modules already imported are looked at (unpickling imported them)."""
    cls = type(obj)
    modules = cls.__module__.split(".")
    for end in range(1, len(modules) + 1):
        module = sys.modules.get(".".join(modules[:end]))
        if module is not None and getattr(module, cls.__qualname__, None) is cls:
            return f"{module.__name__}.{cls.__qualname__}"
    return class_path(obj)


def _parts(model: Any) -> list[Any]:
    """The model and every estimator inside it (pipeline steps, column transformers, ...)."""
    from sklearn.base import BaseEstimator

    found = [model]
    try:
        params = model.get_params(deep=True)
    except Exception:  # a broken get_params: the model itself is all we can check
        return found
    for value in params.values():
        if isinstance(value, BaseEstimator):
            found.append(value)
        elif isinstance(value, list | tuple):  # Pipeline.steps, ColumnTransformer.transformers
            for item in value:
                inner = item[1] if isinstance(item, tuple) and len(item) > 1 else item
                if isinstance(inner, BaseEstimator):
                    found.append(inner)
    return found


def final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        return final_estimator(steps[-1][1])
    return model


def _checked(
    model: Any,
    *,
    where: str,
    form: str,
    sha256: str,
    recorded: str | None,
    allowlist: Sequence[str],
) -> PretrainedModel:
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(model, BaseEstimator):
        raise PretrainedError(
            f"{where} holds a {class_path(model)}, not a scikit-learn estimator: pickle a "
            "fitted estimator or Pipeline"
        )
    task = detect_task(model)
    if task is None:
        raise PretrainedError(
            f"{where} holds a {class_path(model)}, which is neither a classifier nor a "
            "regressor: modelpilot serves supervised models only"
        )
    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise PretrainedError(f"{where} holds an unfitted {class_path(model)}: {exc}") from exc
    except TypeError:  # not an estimator check_is_fitted understands: the predict will tell
        pass
    allowed = (*allowlist, *STRUCTURE)
    for part in _parts(model):
        path, public = class_path(part), public_path(part)
        if not (is_allowed(path, allowed) or is_allowed(public, allowed)):
            raise PretrainedError(
                f"{where} contains {public}, which the platform's estimator "
                f"allowlist does not allow ({', '.join(allowlist)})"
            )
    final = final_estimator(model)
    return PretrainedModel(
        model=model,
        task=task,
        import_path=public_path(final),
        final=final,
        form=form,
        source=where,
        sha256=sha256,
        recorded_sklearn=recorded,
    )


def feature_columns(model: Any, available: Sequence[str], where: str) -> list[str] | None:
    """The columns the model was fitted on, in its order, when it recorded their names
    (fitted on a DataFrame); None when it did not (then the dataset's features, in order,
    must be as many as it takes)."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        expected = getattr(model, "n_features_in_", None)
        if expected is not None and int(expected) != len(available):
            raise PretrainedError(
                f"{where} takes {int(expected)} features and the dataset has "
                f"{len(available)} ({', '.join(available)}); name them in "
                "spec.training.dataset.features, in the order it was fitted with"
            )
        return None
    wanted = [str(n) for n in names]
    missing = [n for n in wanted if n not in available]
    if missing:
        raise PretrainedError(
            f"{where} was fitted on column(s) {', '.join(map(repr, missing))}, which the "
            f"dataset does not have (its features: {', '.join(available)})"
        )
    return wanted
