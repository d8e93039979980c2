"""The read verbs beside `status`: `list`, `history NAME`, `diff NAME vN vM`.

Each prints a table for people and, with `-o json|yaml`, the data behind it for scripts.
The tables and the diff are pure functions of the bodies read (tested without a cluster);
`main_*` only connect, read and print.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelpilot.api import names
from modelpilot.api.reasons import ConditionType
from modelpilot.api.status import parse_status
from modelpilot.cli.kube import add_target_arguments, connect
from modelpilot.cli.status import _age

OUTPUTS = ("table", "json", "yaml")


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", choices=OUTPUTS, default="table", help="table (default), json or yaml"
    )


def dumped(data: Any, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2, sort_keys=True, default=str)
    import yaml

    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    return text.rstrip()


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def list_table(items: list[dict[str, Any]], now: datetime, *, all_namespaces: bool) -> str:
    """`kubectl get mdep`'s columns, NAMESPACE first with -A."""
    header = ["NAME", "PHASE", "READY", "STABLE", "CANDIDATE", "WEIGHT", "PINNED", "AGE"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = []
    for item in sorted(
        items, key=lambda i: (i["metadata"].get("namespace", ""), i["metadata"]["name"])
    ):
        meta, status = item["metadata"], parse_status(item.get("status"))
        ready = status.condition(ConditionType.READY)
        row = [
            meta["name"],
            str(status.phase),
            ready.status if ready else "-",
            status.stable.revision if status.stable else "-",
            status.candidate.revision if status.candidate else "-",
            str(status.canary.weight) if status.canary else "-",
            ((item.get("spec") or {}).get("serving") or {}).get("pinRevision") or "-",
            _age(meta.get("creationTimestamp"), now),
        ]
        if all_namespaces:
            row.insert(0, meta.get("namespace", ""))
        rows.append(row)
    return _table(header, rows) if rows else "No ModelDeployments found."


def history_table(body: dict[str, Any]) -> str:
    status = parse_status(body.get("status"))
    rows = [
        [
            h.revision,
            str(h.outcome),
            str(h.trigger or "-"),
            "-" if h.score is None else f"{h.metric} {h.score:.4f}",
            (h.model_sha256 or "-")[:12],
            (h.training_data_sha256 or "-")[:12],
            h.finished_at.isoformat(timespec="seconds") if h.finished_at else "-",
        ]
        for h in status.history
    ]
    s = status.stable
    if s is not None and all(h.revision != s.revision for h in status.history):
        score = "-" if s.score is None else f"{s.metric} {s.score:.4f}"
        rows.insert(
            0,
            [
                s.revision,
                "Promoted",
                str(s.trigger or "-"),
                score,
                s.model_sha256[:12],
                (s.training_data_sha256 or "-")[:12],
                "-",
            ],
        )
    header = ["REVISION", "OUTCOME", "TRIGGER", "SCORE", "DIGEST", "DATA", "FINISHED"]
    return _table(header, rows) if rows else "No concluded revisions yet."


class UnknownRevision(LookupError):
    pass


def revision_record(body: dict[str, Any], revision: str) -> dict[str, Any]:
    """Everything status remembers of one revision (history, else stable or candidate)."""
    status = parse_status(body.get("status"))
    for entry in status.history:
        if entry.revision == revision:
            return entry.model_dump(mode="json", by_alias=True, exclude_none=True)
    for current in (status.stable, status.candidate):
        if current is not None and current.revision == revision:
            return current.model_dump(mode="json", by_alias=True, exclude_none=True)
    known = sorted(
        {h.revision for h in status.history}
        | ({status.stable.revision} if status.stable else set())
    )
    raise UnknownRevision(f"no revision {revision} in status (known: {', '.join(known) or 'none'})")


_DIFFERENT_BY_NATURE = {"revision", "startedAt", "finishedAt", "promotedAt"}


def diff_records(left: dict[str, Any], right: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, left value, right value) for every field that differs; times left out. The
    estimator's parameters count one by one (`params.max_depth`), so a person sees which."""
    left, right = _flat(left), _flat(right)
    keys = sorted((set(left) | set(right)) - _DIFFERENT_BY_NATURE)
    return [(k, left.get(k), right.get(k)) for k in keys if left.get(k) != right.get(k)]


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    params = record.get("params")
    if not isinstance(params, dict):
        return record
    rest = {k: v for k, v in record.items() if k != "params"}
    return rest | {f"params.{k}": v for k, v in params.items()}


def connect_or_fail(args: argparse.Namespace, verb: str) -> tuple[Any, str]:
    try:
        return connect(args)
    except Exception as exc:  # no kubeconfig and not in a pod: one line, no traceback
        raise SystemExit(fail(verb, f"cannot reach the cluster: {exc}")) from None


def fail(verb: str, message: str) -> int:
    print(f"modelpilot {verb}: {message}", file=sys.stderr)
    return 1


def main_list(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="modelpilot list", description="List ModelDeployments.")
    parser.add_argument("-n", "--namespace", help="default: the kubeconfig context's namespace")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="in every namespace")
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, then ~/.kube/config")
    parser.add_argument("--context", help="kubeconfig context to use")
    add_output_argument(parser)
    args = parser.parse_args(list(argv))
    cluster, namespace = connect_or_fail(args, "list")
    prefix = f"/apis/{names.GROUP}/{names.VERSION}"
    path = (
        f"{prefix}/{names.PLURAL}"
        if args.all_namespaces
        else f"{prefix}/namespaces/{namespace}/{names.PLURAL}"
    )
    items = cluster.request("GET", path).get("items", [])
    if args.output != "table":
        print(dumped(items, args.output))
    else:
        print(list_table(items, datetime.now(UTC), all_namespaces=args.all_namespaces))
    return 0


def _read(args: argparse.Namespace, verb: str) -> dict[str, Any]:
    cluster, namespace = connect_or_fail(args, verb)
    body = cluster.get(names.KIND, namespace, args.name)
    if body is None:
        raise SystemExit(fail(verb, f"modeldeployment {namespace}/{args.name} not found"))
    return dict(body)


def main_history(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="modelpilot history", description="The revisions of a ModelDeployment, newest first."
    )
    add_target_arguments(parser)
    add_output_argument(parser)
    args = parser.parse_args(list(argv))
    body = _read(args, "history")
    if args.output != "table":
        history = parse_status(body.get("status")).history
        print(
            dumped(
                [h.model_dump(mode="json", by_alias=True, exclude_none=True) for h in history],
                args.output,
            )
        )
    else:
        print(history_table(body))
    return 0


def main_diff(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="modelpilot diff",
        description="What differs between two revisions: estimator and each of its parameters, "
        "spec hash, scores, data fingerprint, model digest, outcome.",
    )
    add_target_arguments(parser)
    parser.add_argument("left", help="a revision, e.g. v1")
    parser.add_argument("right", help="another revision, e.g. v2")
    add_output_argument(parser)
    args = parser.parse_args(list(argv))
    body = _read(args, "diff")
    try:
        left, right = revision_record(body, args.left), revision_record(body, args.right)
    except UnknownRevision as exc:
        return fail("diff", str(exc))
    changes = diff_records(left, right)
    if args.output != "table":
        print(dumped({k: {args.left: a, args.right: b} for k, a, b in changes}, args.output))
        return 0
    if not changes:
        print(f"{args.left} and {args.right} do not differ in what status records")
        return 0
    print(
        _table(
            ["FIELD", args.left, args.right],
            [
                [k, str(a if a is not None else "-"), str(b if b is not None else "-")]
                for k, a, b in changes
            ],
        )
    )
    return 0
