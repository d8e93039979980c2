"""Dispatches `modelpilot VERB ...` to the component that owns the verb."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

# verb -> (module, function, one-line help). The function takes argv (after the verb) and
# returns an exit code. Components register here; nothing is imported until a verb is run.
VERBS: dict[str, tuple[str, str, str]] = {
    "train": ("modelpilot.trainer.__main__", "main", "train a model and write its bundle"),
    "prepare-store": ("modelpilot.trainer.store", "main",
                      "a training pod's init step: collect old bundles, create its directory"),
    "serve": ("modelpilot.serving.__main__", "main", "serve one model bundle over HTTP"),
    "fetch-bundle": ("modelpilot.serving.fetch", "main",
                     "a serving pod's init step: download a bundle from S3, verify it"),
    "operator": ("modelpilot.operator.__main__", "main", "run the operator"),
    "status": ("modelpilot.cli.status", "main", "show a ModelDeployment at a glance"),
    "retrain": ("modelpilot.cli.retrain", "main", "start a new revision with the same spec"),
    "promote": ("modelpilot.cli.promote", "promote", "complete the canary's step (--full: all)"),
    "abort": ("modelpilot.cli.promote", "abort", "roll the canary back to stable"),
    "rollback": ("modelpilot.cli.rollback", "main", "serve an earlier revision again (--to vN)"),
    "version": ("modelpilot.cli.version", "main", "this client's version and the operator's"),
}


def _usage() -> str:
    lines = ["usage: modelpilot VERB [ARGS...]", "", "verbs:"]
    lines += [f"  {verb:<10} {help_}" for verb, (_, _, help_) in VERBS.items()]
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
    return int(entry(rest) or 0)


def _missing_extra(verb: str, module_name: str) -> str | None:
    from modelpilot.cli.extras import extra_for, missing_requirements

    extra = extra_for(module_name)
    missing = missing_requirements(extra) if extra else []
    if not missing:
        return None
    return (f"modelpilot {verb}: needs the [{extra}] extra ({', '.join(missing)} not installed); "
            f"pip install 'modelpilot[{extra}]'")
