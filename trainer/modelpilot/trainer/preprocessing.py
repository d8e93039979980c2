"""`spec.training.preprocessing` as a ColumnTransformer in front of the estimator.

Semantics (a decision, documented in the CRD field's description too):
- a step with `columns` applies to those columns; a step without applies to every feature
  column that no step names explicitly — so `[StandardScaler, {OneHotEncoder, columns:
  [colour]}]` scales the numeric columns and one-hot encodes `colour`;
- the steps that apply to a column run in spec order (a Pipeline per group of columns);
- columns no step touches pass through unchanged.
A non-numeric column must reach an encoder (a transformer whose class name ends in
`Encoder`), or the estimator would fail late with a cryptic message; that is a DataError
naming the column. Short names resolve in sklearn.preprocessing and sklearn.impute; full
import paths go through the same allowlist as the estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from modelpilot.api.spec import PreprocessingStep
from modelpilot.trainer.errors import DataError, SpecError
from modelpilot.trainer.estimators import instantiate, resolve_class

_SHORT_NAME_MODULES = ("sklearn.preprocessing", "sklearn.impute")


def resolve_transformer(name: str, allowlist: Sequence[str]) -> type:
    if "." not in name:
        import importlib

        for module_name in _SHORT_NAME_MODULES:
            module = importlib.import_module(module_name)
            if isinstance(getattr(module, name, None), type):
                name = f"{module_name}.{name}"
                break
        else:
            raise SpecError(
                f"transformer {name!r} is not in {' or '.join(_SHORT_NAME_MODULES)}; give a "
                "full import path"
            )
    cls = resolve_class(name, allowlist, what="transformer")
    if not (hasattr(cls, "fit") and hasattr(cls, "transform")):
        raise SpecError(f"transformer {name!r} has no fit/transform")
    return cls


def check_transformers(steps: Sequence[PreprocessingStep], allowlist: Sequence[str]) -> None:
    """Spec-only checks (names, allowlist, params), before any data is read."""
    for step in steps:
        instantiate(
            resolve_transformer(step.transformer, allowlist), step.params, what="transformer"
        )


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)


def build_preprocessor(
    steps: Sequence[PreprocessingStep], features: pd.DataFrame, allowlist: Sequence[str]
) -> Any | None:
    """A ColumnTransformer for these steps and columns, or None when there is nothing to do."""
    columns = list(features.columns)
    explicit: set[str] = set()
    for step in steps:
        for column in step.columns or ():
            if column not in columns:
                raise DataError(
                    f"preprocessing step {step.transformer} names column {column!r}, which "
                    f"is not a feature column; features: {', '.join(columns)}"
                )
            explicit.add(column)
    # column -> indices of the steps that apply to it, in spec order
    chains: dict[str, tuple[int, ...]] = {}
    for column in columns:
        chains[column] = tuple(
            i
            for i, step in enumerate(steps)
            if (column in step.columns if step.columns else column not in explicit)
        )
    for column in columns:
        if not is_numeric(features[column]) and not any(
            _is_encoder(steps[i], allowlist) for i in chains[column]
        ):
            raise DataError(
                f"feature column {column!r} is not numeric (dtype {features[column].dtype}); "
                "encode it with a preprocessing step such as "
                f"{{transformer: OneHotEncoder, columns: [{column}]}} or leave it out of "
                "dataset.features"
            )
    if not steps:
        return None
    groups: dict[tuple[int, ...], list[str]] = {}
    for column in columns:
        if chains[column]:
            groups.setdefault(chains[column], []).append(column)
    if not groups:
        return None
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    transformers = []
    for chain, group_columns in groups.items():
        made = [
            (f"{i}-{steps[i].transformer.rsplit('.', 1)[-1].lower()}", _make(steps[i], allowlist))
            for i in chain
        ]
        transformer = made[0][1] if len(made) == 1 else Pipeline(made)
        name = "+".join(n for n, _ in made)
        transformers.append((name, transformer, group_columns))
    # Dense output: several estimators (HistGradientBoosting, ...) refuse sparse input.
    return ColumnTransformer(transformers, remainder="passthrough", sparse_threshold=0.0)


def _make(step: PreprocessingStep, allowlist: Sequence[str]) -> Any:
    cls = resolve_transformer(step.transformer, allowlist)
    params = dict(step.params)
    if cls.__name__ == "OneHotEncoder":
        # A category first seen in the holdout or in a request must not fail prediction.
        params.setdefault("handle_unknown", "ignore")
    return instantiate(cls, params, what="transformer")


def _is_encoder(step: PreprocessingStep, allowlist: Sequence[str]) -> bool:
    return resolve_transformer(step.transformer, allowlist).__name__.endswith("Encoder")
