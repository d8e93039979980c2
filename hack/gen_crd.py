#!/usr/bin/env python3
"""Generate the ModelDeployment CRD from the pydantic types in modelpilot.api.

    python hack/gen_crd.py            # write manifests/crd/modelpilot.dev_modeldeployments.yaml
    python hack/gen_crd.py --check    # exit 1 when the file is out of date (a unit test does this)

The spec and status types are the single source: their Field descriptions become the
schema's descriptions, their constraints its bounds, their `cel(...)` configs its
x-kubernetes-validations. Pydantic emits JSON Schema 2020-12; a CRD wants a *structural*
OpenAPI v3.0 schema, so this inlines every $ref, turns `X | None` into plain optional `X`
(the apiserver prunes nulls of non-nullable fields), maps free-form dicts to
x-kubernetes-preserve-unknown-fields, and drops what OpenAPI v3.0 lacks (titles, examples,
additionalProperties: false).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "api"))

from modelpilot.api import names  # noqa: E402
from modelpilot.api.spec import ModelDeploymentSpec  # noqa: E402
from modelpilot.api.status import ModelDeploymentStatus  # noqa: E402

OUTPUT = ROOT / "manifests" / "crd" / f"{names.GROUP}_{names.PLURAL}.yaml"

PRINTER_COLUMNS = [
    {
        "name": "Phase",
        "type": "string",
        "jsonPath": ".status.phase",
        "description": "Where the newest revision is.",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "The stable model serves with all its pods Ready.",
    },
    {
        "name": "Stable",
        "type": "string",
        "jsonPath": ".status.stable.revision",
        "description": "The revision that serves.",
    },
    {
        "name": "Candidate",
        "type": "string",
        "jsonPath": ".status.candidate.revision",
        "description": "The newest revision that is not stable.",
    },
    {
        "name": "Weight",
        "type": "integer",
        "jsonPath": ".status.canary.weight",
        "description": "Traffic percentage sent to the canary.",
    },
    {
        "name": "Pinned",
        "type": "string",
        "jsonPath": ".spec.serving.pinRevision",
        "description": "The revision spec.serving.pinRevision serves again (nothing trains).",
    },
    {
        "name": "Metric",
        "type": "string",
        "jsonPath": ".spec.evaluation.metric",
        "description": "The gate metric.",
    },
    {
        "name": "Score",
        "type": "number",
        "jsonPath": ".status.stable.score",
        "description": "The stable model's gate metric on its holdout.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Drifted",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Drifted")].status',
        "description": "The live inputs drifted from the training data (spec.monitoring).",
        "priority": 1,
    },
    {
        "name": "Data",
        "type": "string",
        "jsonPath": ".status.dataWatch.observedSha256",
        "description": "The watched dataset's fingerprint now (spec.training.dataset.watch).",
        "priority": 1,
    },
]

_DROP = {"title", "examples", "$defs"}


def structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:  # noqa: C901 (one branch per JSON-schema keyword, as the structural-schema rules list them)
    """One pydantic JSON Schema node -> one structural OpenAPI v3.0 node."""
    node = dict(schema)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        merged = copy.deepcopy(target)
        merged.update(node)  # the field's own description wins over the class docstring
        return structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union of {options} structurally")
        merged = {**options[0], **node}
        if merged.get("default", ...) is None:
            merged.pop("default")
        return structural(merged, defs)

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out["properties"] = {k: structural(v, defs) for k, v in value.items()}
        elif key == "items":
            # An item of any type (list[Any]): a structural schema needs a type or this flag.
            untyped = value == {}
            out["items"] = (
                {"x-kubernetes-preserve-unknown-fields": True}
                if untyped
                else structural(value, defs)
            )
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out["additionalProperties"] = structural(value, defs)
            # False: a structural schema prunes unknown fields anyway
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        elif key == "format" and value not in ("date-time", "int32", "int64", "double", "float"):
            continue
        else:
            out[key] = value
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True  # free-form params
    if out.get("type") == "object" and "properties" in out and not out["properties"]:
        # An empty marker object such as `replicas: {}`: keep what the user wrote.
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "required" in out and "properties" in out:
        out["required"] = [r for r in out["required"] if r in out["properties"]]
        if not out["required"]:
            del out["required"]
    return ordered(out)


_FIRST = ("type", "description", "required", "properties", "items")


def ordered(node: dict[str, Any]) -> dict[str, Any]:
    """type and description first: the YAML then reads like a hand-written CRD."""
    keys = [k for k in _FIRST if k in node] + sorted(k for k in node if k not in _FIRST)
    return {k: node[k] for k in keys}


def schema_of(model: type) -> dict[str, Any]:
    raw = model.model_json_schema(
        by_alias=True, mode="serialization" if model is ModelDeploymentStatus else "validation"
    )
    return structural(raw, raw.get("$defs", {}))


def build_crd() -> dict[str, Any]:
    spec_schema = schema_of(ModelDeploymentSpec)
    status_schema = schema_of(ModelDeploymentStatus)
    conditions = status_schema["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    # Serialization mode marks defaulted fields required; the operator always writes them.
    status_schema.pop("required", None)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{names.PLURAL}.{names.GROUP}",
            "annotations": {"modelpilot.dev/generated-by": "hack/gen_crd.py"},
        },
        "spec": {
            "group": names.GROUP,
            "names": {
                "kind": names.KIND,
                "listKind": f"{names.KIND}List",
                "plural": names.PLURAL,
                "singular": names.SINGULAR,
                "shortNames": [names.SHORT_NAME],
                "categories": ["modelpilot"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": names.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A scikit-learn model that modelpilot trains, "
                            "gates against the serving model and rolls out.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def render() -> str:
    header = "# Generated by hack/gen_crd.py from modelpilot.api.spec and .status. Do not edit.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python hack/gen_crd.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
