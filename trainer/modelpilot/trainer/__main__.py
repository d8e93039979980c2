"""`modelpilot train` / `python -m modelpilot.trainer`: flags in, exit code out.

Everything this module does is at the edge: read settings, call `run.train`, print, write
the termination message, map the exception tree (`errors.py`) to exit codes.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping, Sequence

from modelpilot.trainer.errors import EXIT_OK, EXIT_SPEC, TrainerError, TrainingError


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    from modelpilot.trainer import report
    from modelpilot.trainer.run import failure_summary, load_job_spec, train
    from modelpilot.trainer.settings import parse_settings

    env = os.environ if env is None else env
    argv = sys.argv[1:] if argv is None else argv
    settings = None
    try:
        try:
            settings = parse_settings(argv, env)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        outcome = train(settings, load_job_spec(settings))
    except TrainerError as exc:
        return _fail(exc, settings, env, report, failure_summary)
    except Exception as exc:
        traceback.print_exc()
        error = TrainingError(f"unexpected {type(exc).__name__}: {exc}")
        return _fail(error, settings, env, report, failure_summary)
    print(report.render(outcome), flush=True)
    report.write_termination_log(outcome.summary, settings.termination_log)
    return EXIT_OK


def _fail(exc, settings, env, report, failure_summary) -> int:  # type: ignore[no-untyped-def]
    message = str(exc)
    print(f"modelpilot train: {exc.kind}: {message}", file=sys.stderr, flush=True)
    if settings is not None:
        revision, log = settings.revision, settings.termination_log
    else:
        # The command line itself was bad: still tell the operator, from the environment.
        from pathlib import Path

        from modelpilot.api import names

        revision = env.get(names.ENV_REVISION, "")
        raw = env.get(names.ENV_TERMINATION_LOG)
        log = Path(raw) if raw else None
    summary = failure_summary(revision, exc.exit_code, f"{exc.kind}: {message}")
    report.write_termination_log(summary, log)
    return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["EXIT_SPEC", "main"]
