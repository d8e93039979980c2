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
    seconds: float
    warnings: tuple[str, ...]


def assemble(preprocessor: Any | None, estimator: Any) -> Any:
    if preprocessor is None:
        return estimator
    from sklearn.pipeline import Pipeline

    return Pipeline([("preprocess", preprocessor), ("estimator", estimator)])


def fit(model: Any, x: pd.DataFrame, y: pd.Series) -> Fitted:
    from sklearn.utils._param_validation import InvalidParameterError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            model.fit(x, y)
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
