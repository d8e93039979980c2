"""`modelpilot wait NAME --for=serving|promoted --timeout D`: block until the model ships,
and say by the exit code how it ended, so a CI job that ran `kubectl apply` knows.

    0  the condition holds: serving (Ready=True), or promoted (the newest revision is
       stable, Ready, nothing in flight)
    1  an error of the command itself (no such ModelDeployment, no access, no cluster)
    2  usage error (argparse)
    3  rejected: the newest candidate failed the evaluation gate
    4  rolled back: the newest canary was aborted or failed its analysis
    5  failed: the newest revision could not be trained or deployed
    6  stalled: Stalled=True, a person must act (an invalid spec, a refused value)
    7  timed out: --timeout passed before any of the above

The status is judged only once the operator has observed the current spec
(status.observedGeneration >= metadata.generation): right after `kubectl apply` the old
revision's Serving phase says nothing about the new one. Which code a status gets is the
pure function `outcome`; the loop around it takes its clock and its sleep as arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from enum import IntEnum, StrEnum
from typing import Any

from modelpilot.api import names
from modelpilot.api.duration import parse_duration
from modelpilot.api.reasons import ConditionReason, ConditionType
from modelpilot.api.status import CandidateState, Phase, parse_status
from modelpilot.cli.kube import add_target_arguments, connect

POLL_SECONDS = 2.0


class Target(StrEnum):
    SERVING = "serving"  # some model serves with all its pods Ready
    PROMOTED = "promoted"  # the newest revision became stable and nothing is in flight


class Outcome(IntEnum):
    """The exit codes of `modelpilot wait` (documented in the module docstring)."""

    MET = 0
    ERROR = 1
    USAGE = 2
    REJECTED = 3
    ROLLED_BACK = 4
    FAILED = 5
    STALLED = 6
    TIMED_OUT = 7


_CONCLUDED = {Phase.REJECTED: Outcome.REJECTED, Phase.ROLLED_BACK: Outcome.ROLLED_BACK}


def outcome(body: dict[str, Any], target: Target) -> Outcome | None:
    """How waiting for `target` ends given this ModelDeployment, or None to keep waiting."""
    raw_status = body.get("status")
    generation = (body.get("metadata") or {}).get("generation")
    status = parse_status(raw_status)
    if status.observed_generation is None or (
        generation is not None and status.observed_generation < generation
    ):
        return None  # the operator has not looked at this spec yet
    ready = status.condition(ConditionType.READY)
    serving = ready is not None and ready.status == "True"
    if target is Target.SERVING and serving:
        return Outcome.MET
    if status.phase in (Phase.REJECTED, Phase.ROLLED_BACK):
        # Before Stalled: a rejection with nothing serving stalls too (NoModelPassed), but
        # what CI needs to hear is that the gate said no.
        return _CONCLUDED[status.phase]
    stalled = status.condition(ConditionType.STALLED)
    if stalled is not None and stalled.status == "True":
        candidate = status.candidate
        failed_itself = (
            status.phase is Phase.FAILED
            and candidate is not None
            and candidate.state is CandidateState.FAILED
            and stalled.reason == (candidate.failure_reason or ConditionReason.FAILED)
        )
        # A revision that failed stalls with its own failure reason; any other stall (an
        # invalid spec, a value the policy refuses) is for a person to fix.
        return Outcome.FAILED if failed_itself else Outcome.STALLED
    if status.phase is Phase.FAILED:
        return Outcome.FAILED
    if target is Target.PROMOTED and serving and status.phase is Phase.SERVING:
        return Outcome.MET
    return None


def summary(body: dict[str, Any]) -> str:
    """One line: the phase and the message a person reads first."""
    status = parse_status(body.get("status"))
    stable = status.stable.revision if status.stable else "-"
    return f"phase {status.phase}, stable {stable}: {status.message or ''}".rstrip(": ")


def wait(
    read: Callable[[], dict[str, Any] | None],
    target: Target,
    timeout: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = POLL_SECONDS,
) -> tuple[Outcome, dict[str, Any] | None]:
    """Read until `outcome` decides or `timeout` seconds pass; (outcome, last body read)."""
    deadline = clock() + timeout
    body = None
    while True:
        body = read()
        if body is not None:
            decided = outcome(body, target)
            if decided is not None:
                return decided, body
        left = deadline - clock()
        if left <= 0:
            return Outcome.TIMED_OUT, body
        sleep(min(poll, left))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelpilot wait",
        description=__doc__.split("\n\n")[0],
        epilog="exit codes:\n" + __doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    parser.add_argument(
        "--for",
        dest="target",
        required=True,
        choices=[t.value for t in Target],
        help="serving: the model serves (Ready); promoted: the newest revision is stable",
    )
    parser.add_argument(
        "--timeout", default="10m", help="give up after this long (30s, 5m, 1h); default 10m"
    )
    return parser


def main(argv: Sequence[str]) -> int:
    parser = _parser()
    args = parser.parse_args(list(argv))
    try:
        timeout = parse_duration(args.timeout)
    except ValueError:
        parser.error(f"--timeout {args.timeout!r} is not a duration (30s, 5m, 1h)")
    from modelpilot.operator.errors import ApiError

    try:
        cluster, namespace = connect(args)
    except Exception as exc:  # no kubeconfig, no in-cluster config: say so, no traceback
        print(f"modelpilot wait: cannot reach the cluster: {exc}", file=sys.stderr)
        return Outcome.ERROR
    what = f"modeldeployment {namespace}/{args.name}"
    try:
        if cluster.get(names.KIND, namespace, args.name) is None:
            print(f"modelpilot wait: {what} not found", file=sys.stderr)
            return Outcome.ERROR
        decided, body = wait(
            lambda: cluster.get(names.KIND, namespace, args.name), Target(args.target), timeout
        )
    except ApiError as exc:
        if exc.status == 403:
            print(
                f"modelpilot wait: forbidden: you may not get modeldeployments.{names.GROUP} "
                f"in namespace {namespace} (needs the verb get; `modelpilot-view` grants it)",
                file=sys.stderr,
            )
        else:
            print(f"modelpilot wait: {exc}", file=sys.stderr)
        return Outcome.ERROR
    line = summary(body) if body is not None else "gone"
    said = args.target if decided is Outcome.MET else decided.name.lower().replace("_", " ")
    print(f"{what}: {said} ({line})")
    return int(decided)
