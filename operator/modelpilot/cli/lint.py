"""`modelpilot lint -f FILE`: check ModelDeployments offline, before `kubectl apply`.

The spec types in modelpilot.api are the CRD's source (hack/gen_crd.py), and their
validators carry the same rules and words as the CRD's CEL rules, so a spec lint passes is
one the apiserver's schema accepts, and a refusal names the field as `kubectl apply` would.
No cluster is needed. Exit code 0: every ModelDeployment is valid; 1: at least one is not
(each problem on stderr); 2: usage, or a file that is not YAML.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelpilot.api import names
from modelpilot.api.spec import parse_spec


def problems(doc: dict[str, Any]) -> list[str]:
    """What is wrong with one ModelDeployment document, as `spec.a.b: message` lines."""
    if doc.get("apiVersion") != names.API_VERSION:
        return [f"apiVersion must be {names.API_VERSION}, not {doc.get('apiVersion')!r}"]
    name = (doc.get("metadata") or {}).get("name")
    found = [] if name else ["metadata.name is required"]
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return [*found, "spec is required"]
    try:
        parse_spec(spec)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in ("spec", *error["loc"]))
            found.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return found


def lint_documents(docs: Iterable[Any], source: str) -> tuple[int, list[str]]:
    """(ModelDeployments checked, problem lines) of the YAML documents of one file."""
    checked, lines = 0, []
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict) or doc.get("kind") != names.KIND:
            continue
        checked += 1
        name = (doc.get("metadata") or {}).get("name") or f"document {index + 1}"
        lines += [f"{source}: {name}: {p}" for p in problems(doc)]
    return checked, lines


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="modelpilot lint",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        help="a YAML file (repeatable; - for stdin)",
    )
    args = parser.parse_args(list(argv))
    import yaml

    total, failed = 0, []
    for name in args.filename:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text()
            docs = list(yaml.safe_load_all(text))
        except (OSError, yaml.YAMLError) as exc:
            print(f"modelpilot lint: {name}: {exc}", file=sys.stderr)
            return 2
        checked, lines = lint_documents(docs, name)
        total += checked
        failed += lines
    for line in failed:
        print(line, file=sys.stderr)
    if not failed:
        print(f"{total} ModelDeployment(s) valid")
    return 1 if failed else 0
