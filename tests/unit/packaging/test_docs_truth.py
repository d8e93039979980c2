"""The docs name only things that exist: every `make TARGET`, `spec.…` CRD field, chart value,
`modelpilot VERB --flag` and MODELPILOT_ variable they mention, and the chart's values
table is what hack/gen_values_table.py generates from values.schema.json."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SCHEMA = json.loads((ROOT / "charts" / "modelpilot" / "values.schema.json").read_text())
CRD = yaml.safe_load(
    (ROOT / "manifests" / "crd" / "modelpilot.dev_modeldeployments.yaml").read_text()
)


def _gen_values_table() -> Any:
    spec = importlib.util.spec_from_file_location(
        "gen_values_table", ROOT / "hack" / "gen_values_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mentions(pattern: str) -> list[tuple[str, str]]:
    """(doc file, match) for every match of `pattern` in the docs."""
    found = []
    for path in DOCS:
        for match in re.finditer(pattern, path.read_text()):
            found.append((path.relative_to(ROOT).as_posix(), match.group(1)))
    return found


# --- the values table ------------------------------------------------------------------


def test_the_values_table_is_what_the_schema_generates() -> None:
    assert _gen_values_table().main(["--check"]) == 0, "run: python hack/gen_values_table.py"


def test_the_table_check_fails_when_the_schema_gains_a_value() -> None:
    gen = _gen_values_table()
    values = yaml.safe_load((ROOT / "charts" / "modelpilot" / "values.yaml").read_text())
    grown = json.loads(json.dumps(SCHEMA))
    grown["properties"]["brandNew"] = {"type": "boolean", "description": "A new value."}
    doc = gen.DOC.read_text()
    assert gen.render_doc(doc, gen.render_table(grown, values)) != doc
    del grown["properties"]["brandNew"]["description"]
    with pytest.raises(gen.UndocumentedValue, match="brandNew has no description"):
        gen.render_table(grown, values)


# --- make targets ----------------------------------------------------------------------

MAKEFILE = (ROOT / "Makefile").read_text()
TARGETS = set(re.findall(r"^([a-zA-Z0-9_-]+):", MAKEFILE, flags=re.M))


@pytest.mark.parametrize(("doc", "target"), sorted(set(_mentions(r"`make ([a-z0-9-]+)"))))
def test_every_documented_make_target_exists(doc: str, target: str) -> None:
    assert target in TARGETS, f"{doc} mentions `make {target}`, which the Makefile lacks"


# --- CRD fields ------------------------------------------------------------------------


def _crd_has(path: str) -> bool:
    node = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for part in path.split("."):
        part = part.split("[")[0]
        if node.get("type") == "array":
            node = node["items"]
        props = node.get("properties") or {}
        if part not in props:
            # free-form below here (params, affinity, a map's keys), or no such field
            return bool(node.get("x-kubernetes-preserve-unknown-fields")) or isinstance(
                node.get("additionalProperties"), dict
            )
        node = props[part]
    return True


# `spec.x.y` / `status.x.y` written as a path (backticked or not), up to the first
# character that cannot be part of one.
FIELDS = sorted(set(_mentions(r"(?<![\w./-])((?:spec|status)(?:\.[a-zA-Z][a-zA-Z0-9]*)+)")))


@pytest.mark.parametrize(("doc", "field"), FIELDS)
def test_every_documented_crd_field_exists(doc: str, field: str) -> None:
    assert _crd_has(field), f"{doc} mentions {field}, which the CRD's schema lacks"


# --- chart values ----------------------------------------------------------------------

VALUE_ROOTS = tuple(SCHEMA["properties"])


def _schema_has(path: str) -> bool:
    node: dict[str, Any] = SCHEMA
    for part in path.split("."):
        while "$ref" in node:
            node = SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        props = node.get("properties")
        if props is None:
            return node.get("type") == "object"  # a map: any key
        if part not in props:
            return False
        node = props[part]
    return True


CHART_VALUES = sorted(
    (doc, value)
    for doc, value in set(_mentions(r"`((?:" + "|".join(VALUE_ROOTS) + r")\.[a-zA-Z0-9.]+)`"))
    if not value.startswith(("spec.", "status."))
)


@pytest.mark.parametrize(("doc", "value"), CHART_VALUES)
def test_every_documented_chart_value_exists(doc: str, value: str) -> None:
    assert _schema_has(value.rstrip(".")), f"{doc} mentions the chart value {value}"


# --- CLI flags -------------------------------------------------------------------------


def _help(verb: str) -> str:
    from modelpilot.cli import main as cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        cli.main([verb, "--help"])
    return out.getvalue()


PEOPLE_VERBS = ("status", "retrain", "promote", "abort", "rollback", "wait")
FLAGS = sorted(
    (doc, f"{verb} {flag}")
    for doc, text in _mentions(r"`modelpilot ((?:" + "|".join(PEOPLE_VERBS) + r")[^`]*)`")
    for verb in [text.split()[0]]
    for flag in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", text)
)


@pytest.mark.parametrize(("doc", "verb_flag"), FLAGS)
def test_every_documented_cli_flag_exists(doc: str, verb_flag: str) -> None:
    verb, flag = verb_flag.split()
    assert flag in _help(verb), f"{doc} mentions `modelpilot {verb} {flag}`"


# --- operator settings -----------------------------------------------------------------

SOURCES = (
    "\n".join(
        p.read_text()
        for root in ("api", "operator", "serving", "trainer", "hack", "tests")
        for p in (ROOT / root).rglob("*")
        if p.suffix in (".py", ".sh") and p.is_file()
    )
    + (ROOT / "Makefile").read_text()
)


@pytest.mark.parametrize(
    ("doc", "variable"), sorted(set(_mentions(r"\b(MODELPILOT_[A-Z0-9_]*[A-Z0-9])\b")))
)
def test_every_documented_variable_is_read_somewhere(doc: str, variable: str) -> None:
    assert variable in SOURCES, f"{doc} mentions {variable}, which no code reads"
