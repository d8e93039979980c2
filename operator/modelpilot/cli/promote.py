"""`modelpilot promote NAME [--full]` and `modelpilot abort NAME`: act on a running canary.

Both set an annotation with a fresh timestamp (so `edit` RBAC on ModelDeployments suffices);
the operator acts on each new value once. `promote` completes the current step (a
`pause: {}` waits for exactly this), `--full` skips every remaining step; `abort` returns all
traffic to stable and rolls the canary back.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from modelpilot.api import names
from modelpilot.api.status import Phase, parse_status
from modelpilot.cli.kube import add_target_arguments, annotate, connect


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _canary_or_explain(args: argparse.Namespace, verb: str) -> bool:
    """True when a canary runs; otherwise says what the phase is (a request would be lost)."""
    cluster, namespace = connect(args)
    body = cluster.get(names.KIND, namespace, args.name)
    if body is None:
        print(f"modeldeployment {namespace}/{args.name} not found", file=sys.stderr)
        return False
    status = parse_status(body.get("status"))
    if status.phase is not Phase.CANARY:
        print(
            f"modeldeployment/{args.name} is {status.phase}, not in a canary: nothing to {verb} "
            "(see `modelpilot status`)"
        )
        return False
    return True


def promote(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="modelpilot promote", description="complete the canary's current step"
    )
    add_target_arguments(parser)
    parser.add_argument(
        "--full", action="store_true", help="skip all remaining steps and promote now"
    )
    args = parser.parse_args(list(argv))
    if not _canary_or_explain(args, "promote"):
        return 1
    stamp = _stamp()
    code = annotate(
        args,
        {
            names.ANNOTATION_PROMOTE: stamp,
            names.ANNOTATION_PROMOTE_FULL: "true" if args.full else "false",
        },
    )
    if code == 0:
        what = "full promotion" if args.full else "promotion past the current step"
        print(f"modeldeployment/{args.name}: {what} requested at {stamp}")
    return code


def abort(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="modelpilot abort", description="roll the canary back; stable keeps serving"
    )
    add_target_arguments(parser)
    args = parser.parse_args(list(argv))
    if not _canary_or_explain(args, "abort"):
        return 1
    stamp = _stamp()
    code = annotate(args, {names.ANNOTATION_ABORT: stamp})
    if code == 0:
        print(f"modeldeployment/{args.name}: abort requested at {stamp}")
    return code
