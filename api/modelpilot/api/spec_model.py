"""The base of every spec model, and the CEL rules it carries into the CRD.

Apart from modelpilot.api.spec so that the spec's parts (modelpilot.api.rollout_spec) can
share it without importing the whole spec.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def cel(*rules: dict[str, str]) -> ConfigDict:
    """Model config carrying CEL rules; hack/gen_crd.py emits them as x-kubernetes-validations.

    Each rule sits beside the pydantic validator that enforces the same thing, and its
    message names the field, so kubectl and the operator reject a spec in the same words.
    """
    validations: list[JsonValue] = [dict(r) for r in rules]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})


def rule(expression: str, message: str, field_path: str | None = None) -> dict[str, str]:
    out = {"rule": expression, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out
