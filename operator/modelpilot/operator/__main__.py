"""`python -m modelpilot.operator` / `modelpilot operator`: run the operator until SIGTERM.

Configuration comes from the environment (see modelpilot.operator.settings); flags only
override what tests and people change most: the namespaces to watch and the log level.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence

from modelpilot.api import logformat
from modelpilot.operator.settings import ENV_LOG_FORMAT, SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="modelpilot operator", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default MODELPILOT_WATCH_NAMESPACES, "
        "else all namespaces",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=logformat.FORMATS,
        default=os.environ.get(ENV_LOG_FORMAT) or "text",
        help=f"text (default) or json: one object per line with modeldeployment and revision "
        f"fields (env {ENV_LOG_FORMAT}; chart value logFormat)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"modelpilot operator: {exc}", file=sys.stderr)
        return 2
    namespaces = tuple(args.namespace) or settings.watch_namespaces
    settings = dataclasses.replace(settings, watch_namespaces=namespaces)

    import kopf

    import modelpilot.operator.handlers  # noqa: F401  (registers the handlers)

    kopf.configure(verbose=args.verbose)
    if args.log_format == "json":
        # kopf's handlers keep their level; only the shape of each line changes.
        logformat.configure("json", "DEBUG" if args.verbose else "INFO")
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        # The operator serves /healthz itself, with /metrics, on that address (endpoint.py).
        liveness_endpoint=None,
        memo=kopf.Memo(settings=settings),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
