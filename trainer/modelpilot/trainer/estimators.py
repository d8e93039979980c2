"""Turning an import path from the spec into a configured scikit-learn estimator, safely.

The spec names a class by import path, so it could name any code: the path must match the
platform team's allowlist (fnmatch patterns, default `sklearn.*`) *before* anything is
imported, must be a plain dotted identifier path, and must resolve to a scikit-learn
estimator class. Params are checked against the class's signature (an unknown one lists the
valid ones) and by scikit-learn's own parameter constraints, so a typo fails in seconds as
an invalid spec instead of after loading data.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelpilot.api.metrics import Task
from modelpilot.trainer.errors import SpecError

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


@dataclass(frozen=True, slots=True)
class BuiltEstimator:
    estimator: Any  # an unfitted scikit-learn estimator
    import_path: str
    task: Task


def is_allowed(import_path: str, allowlist: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(import_path, pattern) for pattern in allowlist)


def resolve_class(import_path: str, allowlist: Sequence[str], *, what: str = "estimator") -> type:
    """Import `module.Class` if the allowlist permits it; SpecError otherwise."""
    if not _DOTTED.match(import_path) or any(
        part.startswith("__") for part in import_path.split(".")
    ):
        raise SpecError(
            f"{what} {import_path!r} is not an import path such as "
            "sklearn.ensemble.RandomForestClassifier"
        )
    if not is_allowed(import_path, allowlist):
        raise SpecError(
            f"{what} {import_path!r} is not allowed; the platform's allowlist is "
            f"{', '.join(allowlist)}"
        )
    module_name, _, class_name = import_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(f"{what} {import_path!r}: cannot import {module_name}: {exc}") from exc
    cls = getattr(module, class_name, None)
    from sklearn.base import BaseEstimator

    if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
        raise SpecError(f"{what} {import_path!r} is not a scikit-learn estimator class")
    return cls


def valid_params(cls: type) -> list[str]:
    signature = inspect.signature(cls.__init__)
    return [
        p.name
        for p in signature.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def instantiate(cls: type, params: dict[str, Any], *, what: str) -> Any:
    """Create `cls(**params)` after checking names and scikit-learn's value constraints."""
    valid = valid_params(cls)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise SpecError(
            f"{what} {cls.__name__} has no param {', '.join(map(repr, unknown))}; valid params: "
            f"{', '.join(sorted(valid)) or '(none)'}"
        )
    try:
        instance = cls(**params)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{what} {cls.__name__}: {exc}") from exc
    # scikit-learn checks param values at fit; check now so a bad value is a spec error.
    # `_validate_params` is private but stable since 1.2; skip it if it ever goes away.
    validate = getattr(instance, "_validate_params", None)
    if callable(validate):
        from sklearn.utils._param_validation import InvalidParameterError

        try:
            validate()
        except InvalidParameterError as exc:
            raise SpecError(f"{what} {cls.__name__}: {exc}") from exc
    return instance


def detect_task(estimator: Any) -> Task | None:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return Task.CLASSIFICATION
    if is_regressor(estimator):
        return Task.REGRESSION
    return None


def build_estimator(
    import_path: str,
    params: dict[str, Any],
    *,
    allowlist: Sequence[str],
    random_state: int,
) -> BuiltEstimator:
    """The spec's estimator, configured; seeded with `random_state` unless params set one."""
    cls = resolve_class(import_path, allowlist)
    params = dict(params)
    if "random_state" in valid_params(cls) and "random_state" not in params:
        params["random_state"] = random_state
    estimator = instantiate(cls, params, what="estimator")
    task = detect_task(estimator)
    if task is None:
        raise SpecError(
            f"estimator {import_path!r} is neither a classifier nor a regressor; modelpilot "
            "trains supervised models only"
        )
    return BuiltEstimator(estimator=estimator, import_path=import_path, task=task)


def effective_params(estimator: Any) -> dict[str, Any]:
    """The estimator's own params as JSON-safe values (repr for anything else)."""
    return {k: _json_safe(v) for k, v in sorted(estimator.get_params(deep=False).items())}


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return _json_safe(value.item())
    except ImportError:  # pragma: no cover
        pass
    return repr(value)
