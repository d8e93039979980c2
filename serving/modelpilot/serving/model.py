"""The served model: a verified bundle's estimator behind `load`, `predict`, `ready`, `version`.

This is the only module that touches scikit-learn; routes and protocols see numpy arrays in
and a `Prediction` out. A model fitted on a DataFrame that selects columns by name, or with
string features, predicts on a DataFrame built from the validated matrix (frames.py).
Loading goes through `modelpilot.api.bundle.load_bundle`, which
reads model.joblib once (never through a symlink), checks those bytes against the digest the
operator trusted, the bundle's owner (the ModelDeployment uid, when given) and the library
versions, and unpickles the very bytes it checked.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelpilot.api.bundle import (
    Binding,
    BundleError,
    BundleMetadata,
    FeatureSchema,
    load_bundle,
)

from .ensembles import FastPredictor, fast_predictor
from .errors import ModelLoadError, ModelNotReady, PredictionFailed
from .features import FeatureLayout
from .frames import FrameBuilder, frame_builder

log = logging.getLogger("modelpilot.serving")


@dataclass(frozen=True, slots=True)
class Prediction:
    """Row i of each array answers row i of the input."""

    predictions: np.ndarray
    probabilities: np.ndarray | None = None


class SklearnModel:
    """One bundle's estimator. Not ready until `load()` has verified and unpickled it."""

    def __init__(
        self,
        *,
        name: str,
        model_dir: str,
        expected_sha256: str,
        version: str | None = None,
        owner_uid: str | None = None,
        after_verify: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.model_dir = model_dir
        self.expected_sha256 = expected_sha256
        self.owner_uid = owner_uid
        self._after_verify = after_verify  # load_bundle's seam, for tests that swap the file
        self._version_override = version
        self._estimator: Any = None
        self._fast: FastPredictor | None = None
        self._frame: FrameBuilder | None = None
        self._missing = False  # some feature may arrive as NaN (the fast path assumes none)
        self._metadata: BundleMetadata | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Verify digest and library versions, then unpickle. Raises ModelLoadError."""
        try:
            bundle = load_bundle(
                self.model_dir,
                self.expected_sha256,
                binding=Binding(owner_uid=self.owner_uid),
                after_verify=self._after_verify,
            )
        except BundleError as exc:
            raise ModelLoadError(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # unpickling runs arbitrary (now trusted) code
            raise ModelLoadError(
                f"cannot load {self.model_dir}: {type(exc).__name__}: {exc}"
            ) from exc
        estimator = bundle.model
        if not hasattr(estimator, "predict"):
            raise ModelLoadError(
                f"{self.model_dir} holds a {type(estimator).__name__}, which has no predict()"
            )
        _limit_inner_parallelism(estimator)
        if getattr(estimator, "feature_names_in_", None) is not None:
            # Fitted on a DataFrame; we predict on arrays whose columns follow the bundle's
            # feature schema (validated per request), so sklearn's "X does not have valid
            # feature names" warning is noise here. Narrow filter: that message only.
            warnings.filterwarnings(
                "ignore",
                message="X does not have valid feature names",
                category=UserWarning,
            )
        n_features = getattr(estimator, "n_features_in_", None)
        if n_features is not None and n_features != bundle.metadata.features.count:
            raise ModelLoadError(
                f"{self.model_dir}: the model expects {n_features} features but metadata.json "
                f"lists {bundle.metadata.features.count}"
            )
        features = bundle.metadata.features
        self._frame = frame_builder(estimator, FeatureLayout.from_schema(features, max_rows=1))
        self._missing = any(features.missing_allowed(c) for c in range(features.count))
        try:
            self._fast = fast_predictor(estimator)
        except Exception as exc:  # the fast path is an optimisation, never a reason to fail
            log.warning(
                "tree-ensemble fast path unavailable (%s: %s); using predict",
                type(exc).__name__,
                exc,
            )
            self._fast = None
        self._metadata = bundle.metadata
        self._estimator = estimator

    @property
    def ready(self) -> bool:
        return self._estimator is not None

    # -- what the protocols need to know ----------------------------------------------------

    @property
    def metadata(self) -> BundleMetadata:
        if self._metadata is None:
            raise ModelNotReady(f"model {self.name} is not loaded yet")
        return self._metadata

    @property
    def version(self) -> str:
        if self._version_override:
            return self._version_override
        return self.metadata.revision

    @property
    def sha256(self) -> str:
        return self.expected_sha256

    @property
    def features(self) -> FeatureSchema:
        return self.metadata.features

    @property
    def task(self) -> str:
        return self.metadata.task

    @property
    def classes(self) -> list[Any] | None:
        if self._metadata is not None and self._metadata.classes is not None:
            return list(self._metadata.classes)
        classes = getattr(self._estimator, "classes_", None)
        return None if classes is None else classes.tolist()

    @property
    def has_proba(self) -> bool:
        return self.ready and hasattr(self._estimator, "predict_proba")

    # -- inference --------------------------------------------------------------------------

    def predict(self, features: np.ndarray, *, proba: bool = False) -> Prediction:
        """Called from the batcher's worker thread with an already validated matrix."""
        estimator = self._estimator
        if estimator is None:
            raise ModelNotReady(f"model {self.name} is not loaded yet")
        import sklearn

        try:
            if (
                self._fast is not None
                and features.dtype.kind == "f"
                and not (self._missing and np.isnan(features).any())
            ):
                predictions, probabilities = self._fast.predict(features, proba=proba)
                return Prediction(predictions=predictions, probabilities=probabilities)
            inputs = features if self._frame is None else self._frame.build(features)
            # Inputs were checked per request: finite, or NaN only where the pipeline takes
            # a missing value (and then sklearn must look for it).
            with sklearn.config_context(assume_finite=not self._missing):
                predictions = estimator.predict(inputs)
                probabilities = estimator.predict_proba(inputs) if proba else None
        except Exception as exc:
            # The body names the failure, not the exception's text (it may carry paths or
            # data); the log has both.
            raise PredictionFailed(
                f"model {self.name} failed to predict this input ({type(exc).__name__})",
                detail=str(exc),
            ) from exc
        return Prediction(predictions=predictions, probabilities=probabilities)


def _limit_inner_parallelism(estimator: Any) -> None:
    """Predict on one thread: the server's concurrency comes from batching requests.

    An estimator fitted with n_jobs=-1 would start a joblib thread pool per predict call and
    fight the event loop for the cores. n_jobs never changes a prediction.
    """
    get_params = getattr(estimator, "get_params", None)
    set_params = getattr(estimator, "set_params", None)
    if get_params is None or set_params is None:
        return
    try:
        keys = [
            k
            for k, v in get_params(deep=True).items()
            if (k == "n_jobs" or k.endswith("__n_jobs")) and v not in (None, 1)
        ]
        if keys:
            set_params(**dict.fromkeys(keys, 1))
    except Exception as exc:  # a third-party estimator with odd params: leave it as is
        warnings.warn(
            f"could not limit n_jobs of {type(estimator).__name__}: {exc}",
            RuntimeWarning,
            stacklevel=2,
        )
