"""`modelpilot train` / `python -m modelpilot.trainer`: flags in, exit code out.

Everything this module does is at the edge: read settings, call `run.train`, print, write
the termination message, map the exception tree (`errors.py`) to exit codes. Every failure
still writes a summary (ok=false, exit_code, error) so the operator can show the reason.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence

from modelpilot.trainer import report, s3_store
from modelpilot.trainer.errors import EXIT_OK, TrainerError, TrainingError
from modelpilot.trainer.run import failure_summary, load_job_spec, train
from modelpilot.trainer.settings import Settings, parse_settings, report_target


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--fingerprint-only"]:  # the data probe Job (spec.training.dataset.watch)
        from modelpilot.trainer.probe import main as probe

        return probe(env)
    settings: Settings | None = None
    try:
        try:
            settings = parse_settings(argv, env)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        with _sigterm_raises():
            store = s3_store.from_env(env)  # spec.modelStore.s3; None on a PVC
            if store is not None:
                s3_store.fetch_inputs(settings, store)
            outcome = train(settings, load_job_spec(settings))
            if store is not None:
                s3_store.publish(settings, store, outcome.summary.model_sha256 or "")
                for removed in s3_store.prune(settings, store, env):
                    print(f"modelpilot train: removed {removed}", flush=True)
    except TrainerError as exc:
        return _fail(exc, settings, argv, env)
    except Exception as exc:
        traceback.print_exc()  # a bug, not a user error: keep the trace for the issue
        error = TrainingError(f"unexpected {type(exc).__name__}: {exc}")
        return _fail(error, settings, argv, env)
    print(report.render(outcome), flush=True)
    report.write_termination_log(outcome.summary, settings.termination_log)
    return EXIT_OK


class Terminated(TrainingError):
    pass


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM (activeDeadlineSeconds, pod deletion) into an exception.

    Python's default for SIGTERM is to die on the spot; raising instead unwinds through
    `write_bundle`'s cleanup, so no staging directory is left behind, and still reports.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated("terminated by SIGTERM (activeDeadlineSeconds or pod deletion)")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(
    exc: TrainerError, settings: Settings | None, argv: list[str], env: Mapping[str, str]
) -> int:
    print(f"modelpilot train: {exc.kind}: {exc}", file=sys.stderr, flush=True)
    if settings is not None:
        revision, log = settings.revision, settings.termination_log
    else:  # the command line itself was bad: still tell the operator what we can
        revision, log = report_target(argv, env)
    report.write_termination_log(
        failure_summary(revision, exc.exit_code, f"{exc.kind}: {exc}"), log
    )
    return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
