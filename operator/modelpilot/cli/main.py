"""Dispatches `modelpilot VERB ...` to the component that owns the verb.

The people-facing verbs report errors as one line on stderr with exit code 1, never a
traceback (MODELPILOT_DEBUG=1 shows it); an apiserver refusal keeps the apiserver's words,
which name the verb and resource that are missing (`cannot get resource
"modeldeployments" ...`). The pod-internal verbs (train, serve, ...) are left out of the
help and keep their own error handling: their tracebacks belong in the pod's log.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

# verb -> (module, function, one-line help). The function takes argv (after the verb) and
# returns an exit code. Components register here; nothing is imported until a verb is run.
VERBS: dict[str, tuple[str, str, str]] = {
    "train": ("modelpilot.trainer.__main__", "main", "train a model and write its bundle"),
    "prepare-store": (
        "modelpilot.trainer.store",
        "main",
        "a training pod's init step: collect old bundles, create its directory",
    ),
    "serve": ("modelpilot.serving.__main__", "main", "serve one model bundle over HTTP"),
    "fetch-bundle": (
        "modelpilot.serving.fetch",
        "main",
        "a serving pod's init step: download a bundle from S3, verify it",
    ),
    "operator": ("modelpilot.operator.__main__", "main", "run the operator"),
    "status": ("modelpilot.cli.status", "main", "show a ModelDeployment at a glance"),
    "retrain": ("modelpilot.cli.retrain", "main", "start a new revision with the same spec"),
    "promote": ("modelpilot.cli.promote", "promote", "complete the canary's step (--full: all)"),
    "abort": ("modelpilot.cli.promote", "abort", "roll the canary back to stable"),
    "rollback": ("modelpilot.cli.rollback", "main", "serve an earlier revision again (--to vN)"),
    "wait": (
        "modelpilot.cli.wait",
        "main",
        "wait until serving/promoted; the exit code says how it ended",
    ),
    "list": ("modelpilot.cli.reads", "main_list", "list ModelDeployments (-A: all namespaces)"),
    "get": ("modelpilot.cli.get", "main", "show one ModelDeployment (--watch: live)"),
    "history": ("modelpilot.cli.reads", "main_history", "the revisions, newest first"),
    "diff": ("modelpilot.cli.reads", "main_diff", "what differs between two revisions"),
    "lint": ("modelpilot.cli.lint", "main", "check ModelDeployment files offline (-f FILE)"),
    "completion": ("modelpilot.cli.completion", "main", "shell completion (bash or zsh)"),
    "dashboard": ("modelpilot.cli.dashboard", "main", "a local web page of your models"),
    "version": ("modelpilot.cli.version", "main", "this client's version and the operator's"),
}
# Run inside the pods the operator creates (and by the operator's own image): not for people.
POD_INTERNAL = frozenset({"train", "prepare-store", "serve", "fetch-bundle"})


def _usage() -> str:
    lines = ["usage: modelpilot VERB [ARGS...]", "", "verbs:"]
    lines += [
        f"  {verb:<10} {help_}" for verb, (_, _, help_) in VERBS.items() if verb not in POD_INTERNAL
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    verb, rest = args[0], args[1:]
    if verb not in VERBS:
        print(f"modelpilot: unknown verb {verb!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, function_name, _ = VERBS[verb]
    if refusal := _missing_extra(verb, module_name):
        print(refusal, file=sys.stderr)
        return 2
    module = __import__(module_name, fromlist=[function_name])
    entry: Callable[[list[str]], int] = getattr(module, function_name)
    if verb in POD_INTERNAL or os.environ.get("MODELPILOT_DEBUG"):
        return int(entry(rest) or 0)
    try:
        return int(entry(rest) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for people; MODELPILOT_DEBUG=1 for the traceback
        print(f"modelpilot {verb}: {exc}", file=sys.stderr)
        return 1


def _missing_extra(verb: str, module_name: str) -> str | None:
    from modelpilot.cli.extras import extra_for, missing_requirements

    extra = extra_for(module_name)
    missing = missing_requirements(extra) if extra else []
    if not missing:
        return None
    return (
        f"modelpilot {verb}: needs the [{extra}] extra ({', '.join(missing)} not installed); "
        f"pip install 'modelpilot[{extra}]'"
    )
