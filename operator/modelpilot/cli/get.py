"""`modelpilot get NAME [--watch] [-o json|yaml]`: one ModelDeployment, once or live.

On a terminal --watch redraws the `status` report in place every poll; piped (CI logs, a
file) it prints one line each time the phase, the weight or the message changes, so the log
reads as the rollout's story rather than a wall of repeated screens.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from modelpilot.api import names
from modelpilot.api.status import parse_status
from modelpilot.cli.reads import add_output_argument, connect_or_fail, dumped, fail
from modelpilot.cli.status import render

POLL_SECONDS = 2.0
CLEAR = "\x1b[H\x1b[2J"


def progress_line(body: dict[str, Any]) -> str:
    """The one line a piped --watch prints when it changes."""
    status = parse_status(body.get("status"))
    parts = [f"phase {status.phase}"]
    if status.stable is not None:
        parts.append(f"stable {status.stable.revision}")
    if status.candidate is not None:
        parts.append(f"candidate {status.candidate.revision} {status.candidate.state}")
    if status.canary is not None:
        parts.append(f"weight {status.canary.weight}")
    line = ", ".join(parts)
    return f"{line}: {status.message}" if status.message else line


def watch_lines(
    read: Callable[[], dict[str, Any] | None],
    emit: Callable[[str], None],
    *,
    until: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Emit progress_line whenever it changes, until `until()` says stop."""
    last = None
    while not until():
        body = read()
        line = "gone" if body is None else progress_line(body)
        if line != last:
            emit(line)
            last = line
        sleep(POLL_SECONDS)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="modelpilot get", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the ModelDeployment")
    parser.add_argument("-n", "--namespace", help="default: the kubeconfig context's namespace")
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, then ~/.kube/config")
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument("-w", "--watch", action="store_true", help="keep showing changes")
    add_output_argument(parser)
    args = parser.parse_args(list(argv))
    cluster, namespace = connect_or_fail(args, "get")

    def read() -> dict[str, Any] | None:
        body = cluster.get(names.KIND, namespace, args.name)
        return None if body is None else dict(body)

    body = read()
    if body is None:
        return fail("get", f"modeldeployment {namespace}/{args.name} not found")
    if args.output != "table":
        print(dumped(body, args.output))
        return 0
    if not args.watch:
        print(render(body, [], datetime.now(UTC)))
        return 0
    try:
        if sys.stdout.isatty():
            while True:
                current = read()
                screen = "gone" if current is None else render(current, [], datetime.now(UTC))
                sys.stdout.write(CLEAR + screen + "\n")
                sys.stdout.flush()
                time.sleep(POLL_SECONDS)
        watch_lines(read, lambda line: print(line, flush=True), until=lambda: False)
    except KeyboardInterrupt:
        return 0
    return 0
