"""Fitting the model: preprocessing and estimator as one Pipeline, timed, warnings captured.

Warnings (ConvergenceWarning and the like) are facts about this training run, not failures:
they are collected and reported in the summary instead of being left to whatever warning
filters the process happens to run under.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd

from modelpilot.trainer.errors import SpecError, TrainingError


@dataclass(frozen=True)
class Fitted:
    model: Any  # the fitted estimator or Pipeline: what the bundle holds
    seconds: float | None  # None: not fitted here (spec.training.pretrained)
    warnings: tuple[str, ...]


def assemble(preprocessor: Any | None, estimator: Any) -> Any:
    if preprocessor is None:
        return estimator
    from sklearn.pipeline import Pipeline

    return Pipeline([("preprocess", preprocessor), ("estimator", estimator)])


def check_sample_weight(estimator: Any, column: str | None) -> None:
    """spec.training.sampleWeight needs an estimator whose fit takes sample_weight."""
    if column is None:
        return
    from sklearn.utils.validation import has_fit_parameter

    if not has_fit_parameter(estimator, "sample_weight"):
        raise SpecError(
            f"spec.training.sampleWeight is set but {type(estimator).__name__}.fit takes no "
            "sample_weight; choose an estimator that does, or drop sampleWeight"
        )


def fit(
    model: Any, x: pd.DataFrame, y: pd.Series, sample_weight: pd.Series | None = None
) -> Fitted:
    """Fit; `sample_weight` goes to the estimator (the Pipeline's last step), never to the
    preprocessing, which learns its statistics from the rows as they are."""
    from sklearn.utils._param_validation import InvalidParameterError

    fit_params: dict[str, Any] = {}
    if sample_weight is not None:
        steps = getattr(model, "steps", None)
        key = f"{steps[-1][0]}__sample_weight" if steps else "sample_weight"
        fit_params[key] = sample_weight.to_numpy()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            model.fit(x, y, **fit_params)
        except InvalidParameterError as exc:
            raise SpecError(f"invalid params: {exc}") from exc
        except MemoryError as exc:
            raise TrainingError("fit ran out of memory; give the training Job more") from exc
        except Exception as exc:
            raise TrainingError(f"fit failed: {type(exc).__name__}: {exc}") from exc
        seconds = time.perf_counter() - start
    return Fitted(model=model, seconds=seconds, warnings=distinct_warnings(caught))


def distinct_warnings(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for w in caught:
        seen.setdefault(f"{w.category.__name__}: {str(w.message).splitlines()[0]}", None)
    return tuple(seen)
