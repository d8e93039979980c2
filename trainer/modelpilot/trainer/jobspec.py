"""The training spec the Job is given: `spec.training` and `spec.evaluation` of a ModelDeployment.

Read from a YAML/JSON file or inline JSON, with the CRD's field names, and parsed with the
same `modelpilot.api.spec` models the operator uses, so both reject the same specs. Other
sections of a full spec (serving, rollout, ...) are tolerated and ignored: the operator may
pass the whole spec.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from modelpilot.api.spec import Evaluation, Training
from modelpilot.trainer.errors import SpecError


@dataclass(frozen=True, slots=True)
class JobSpec:
    training: Training
    evaluation: Evaluation


def read_spec(*, path: Path | None = None, text: str | None = None) -> JobSpec:
    """Parse the spec from a file or from inline text; SpecError names the bad field."""
    if path is not None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise SpecError(f"cannot read spec file {path}: {exc.strerror or exc}") from exc
    if text is None:
        raise SpecError("no spec given")
    try:
        raw = json.loads(text)
    except ValueError:
        try:
            raw = yaml.load(text, Loader=_Yaml12Loader)
        except yaml.YAMLError as exc:
            raise SpecError(f"spec is not valid YAML/JSON: {exc}") from exc
    return parse_job_spec(raw)


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML speaks YAML 1.1, where `1e-3` is a *string*; kubectl (YAML 1.2) reads a float.

    Resolve 1.2-style floats so `params: {tol: 1e-3}` means the same here as in the CRD.
    """


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_job_spec(raw: Any) -> JobSpec:
    if isinstance(raw, dict) and isinstance(raw.get("spec"), dict):
        raw = raw["spec"]  # a whole ModelDeployment object
    if not isinstance(raw, dict):
        raise SpecError("spec must be a mapping with 'training' and 'evaluation'")
    for section in ("training", "evaluation"):
        if section not in raw:
            raise SpecError(f"spec.{section} is required")
    try:
        training = Training.model_validate(raw["training"])
    except ValidationError as exc:
        raise SpecError(_describe("training", exc)) from exc
    try:
        evaluation = Evaluation.model_validate(raw["evaluation"])
    except ValidationError as exc:
        raise SpecError(_describe("evaluation", exc)) from exc
    return JobSpec(training=training, evaluation=evaluation)


def _describe(section: str, exc: ValidationError) -> str:
    """One line per problem, each naming the field as the CRD spells it."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in (section, *err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"spec.{where}: {message}")
    return "; ".join(parts)
