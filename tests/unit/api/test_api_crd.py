"""The CRD and the Python types stay in step: regenerate and compare, and check the schema
declares every status field the operator writes (the apiserver prunes undeclared ones)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from api_samples import full_status

from modelpilot.api.spec import BOUNDED_METRICS, parse_spec
from modelpilot.api.status import dump_status, parse_status

ROOT = Path(__file__).resolve().parents[3]


def _gen_crd():
    spec = importlib.util.spec_from_file_location("gen_crd", ROOT / "hack" / "gen_crd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def crd():
    return _gen_crd().build_crd()


def _schema(crd):
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crd_is_what_the_types_generate():
    gen = _gen_crd()
    assert gen.OUTPUT.read_text() == gen.render(), "run: make gen-crd"


def test_schema_is_structural(crd):
    def walk(node, path):
        assert "$ref" not in node and "anyOf" not in node and "allOf" not in node, path
        assert node.get("additionalProperties") is not False, path
        if node.get("type") == "object" and path != ".metadata":
            assert (
                "properties" in node
                or "additionalProperties" in node
                or node.get("x-kubernetes-preserve-unknown-fields")
            ), path
        for key, child in (node.get("properties") or {}).items():
            assert "type" in child, f"{path}.{key} has no type"
            walk(child, f"{path}.{key}")
        if "items" in node:
            # The apiserver refuses an item with no type ("must not be empty for specified
            # array items") unless it keeps unknown fields or is an int-or-string.
            item = node["items"]
            assert (
                "type" in item
                or item.get("x-kubernetes-preserve-unknown-fields")
                or item.get("x-kubernetes-int-or-string")
            ), f"{path}[] has no type"
            walk(item, f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}")

    walk(_schema(crd), "")


def test_every_spec_field_has_a_description(crd):
    def walk(node, path):
        for key, child in (node.get("properties") or {}).items():
            assert child.get("description"), f"{path}.{key}"
            walk(child, f"{path}.{key}")
        if "items" in node:
            # The apiserver refuses an item with no type ("must not be empty for specified
            # array items") unless it keeps unknown fields or is an int-or-string.
            item = node["items"]
            assert (
                "type" in item
                or item.get("x-kubernetes-preserve-unknown-fields")
                or item.get("x-kubernetes-int-or-string")
            ), f"{path}[] has no type"
            walk(item, f"{path}[]")

    walk(_schema(crd)["properties"]["spec"], "spec")


def test_every_status_field_written_is_declared(crd):
    """What pruning would do: every key of a fully populated status exists in the schema."""
    status = dump_status(full_status())

    def undeclared(value, node, path):
        if isinstance(value, dict):
            props = node.get("properties")
            if props is None:
                return []
            out = []
            for key, child in value.items():
                if key not in props:
                    out.append(f"{path}.{key}")
                else:
                    out += undeclared(child, props[key], f"{path}.{key}")
            return out
        if isinstance(value, list):
            return [p for item in value for p in undeclared(item, node["items"], f"{path}[]")]
        return []

    assert undeclared(status, _schema(crd)["properties"]["status"], "status") == []
    assert parse_status(status) == full_status()


def test_cel_rules_name_their_fields(crd):
    text = yaml.safe_dump(crd)
    for field in (
        "spec.training.dataset",
        "spec.training.schedule",
        "spec.evaluation.threshold",
        "spec.rollout.steps",
        "spec.rollout.trafficRouter",
    ):
        assert f"message: {field}" in text or f"message: '{field}" in text or field in text
    assert all(m in text for m in BOUNDED_METRICS)


def test_printer_columns(crd):
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == [
        "Phase",
        "Ready",
        "Stable",
        "Candidate",
        "Weight",
        "Pinned",
        "Metric",
        "Score",
        "Age",
        "Drifted",
        "Data",  # priority 1: kubectl get -o wide
    ]
    assert crd["spec"]["names"]["shortNames"] == ["mdep"]
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_example_specs_parse():
    parsed = {}
    for path in sorted((ROOT / "examples").glob("*/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ModelDeployment":
                parsed[path.parent.name] = parse_spec(doc["spec"])
    # every example folder holds a ModelDeployment, and each one parses (raises otherwise)
    example_dirs = {p.name for p in (ROOT / "examples").iterdir() if p.is_dir()}
    assert parsed and set(parsed) == example_dirs
