"""`modelpilot serve ...` / `python -m modelpilot.serving ...`: the serving pod's program.

Order matters: thread limits go into the environment before numpy, scipy or sklearn start
their OpenMP/BLAS pools; the bundle is verified and loaded before the server listens, so a
tampered or version-skewed bundle exits non-zero with one stderr line and never serves.
Nothing is written to disk (the pod may run with a read-only root filesystem) but, on a
refusal, the container's termination message (MODELPILOT_TERMINATION_LOG, or the kubelet's
default /dev/termination-log when it exists).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from modelpilot.api.names import ENV_TERMINATION_LOG

DEFAULT_TERMINATION_LOG = "/dev/termination-log"

# One thread per native pool unless the operator set otherwise: the server gets its
# concurrency from batching requests, and a pool per core would fight the event loop.
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def _limit_threads(environ: dict[str, str] | os._Environ[str]) -> None:
    for name in THREAD_ENV:
        environ.setdefault(name, "1")


def main(argv: Sequence[str] | None = None) -> int:
    _limit_threads(os.environ)
    from .settings import SettingsError, parse_settings

    try:
        settings = parse_settings(sys.argv[1:] if argv is None else argv, os.environ)
    except SettingsError as exc:
        print(f"modelpilot serve: {exc}", file=sys.stderr)
        return 2

    from modelpilot.api import logformat

    logformat.configure(
        settings.log_format,
        settings.log_level,
        static={"modeldeployment": settings.model_name, "revision": settings.model_version or ""},
    )
    from .errors import ModelLoadError
    from .model import SklearnModel

    model = SklearnModel(
        name=settings.model_name,
        model_dir=settings.model_dir,
        expected_sha256=settings.expected_sha256,
        version=settings.model_version,
        owner_uid=settings.owner_uid,
    )
    try:
        model.load()
    except ModelLoadError as exc:
        line = " ".join(str(exc).split())
        message = f"modelpilot serve: refusing to start: {line}"
        print(message, file=sys.stderr)
        # The container's termination message: the operator puts it in Ready's message, so
        # a person reads why (a digest mismatch, another owner) and not just CrashLoopBackOff.
        # The kubelet mounts /dev/termination-log into every container by default, so the pod
        # template needs no change (and existing Deployments no rollout) for this.
        log = Path(os.environ.get(ENV_TERMINATION_LOG) or DEFAULT_TERMINATION_LOG)
        if log.exists() or ENV_TERMINATION_LOG in os.environ:
            with contextlib.suppress(OSError):
                log.write_text(message[:4000])
        return 1

    from .app import create_app
    from .server import run

    app = create_app(settings, model)
    # Everything allocated so far (imports, the model's trees) lives as long as the process:
    # move it out of the collector's sight, so full collections under load scan only what
    # requests allocate instead of pausing every in-flight request for tens of milliseconds.
    gc.collect()
    gc.freeze()
    logging.getLogger("modelpilot.serving").info(
        "serving model %s version %s (sha256 %s) on %s:%d (gRPC: %s)",
        settings.model_name,
        model.version,
        model.sha256,
        settings.host,
        settings.port,
        settings.grpc_port or "off",
    )
    return run(app, app.state.service, settings)


if __name__ == "__main__":
    sys.exit(main())
