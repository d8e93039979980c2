"""Run the app under uvicorn with a Kubernetes-shaped shutdown.

SIGTERM (the kubelet stopping the pod): readiness goes false at once, requests are still
answered for `drain_seconds` so endpoint controllers and load balancers stop routing here,
then the listener closes and in-flight requests finish (at most
`shutdown_timeout_seconds`), then the process exits 0. A second SIGTERM or a SIGINT skips
the drain wait.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import uvicorn

from .service import InferenceService
from .settings import Settings

log = logging.getLogger("modelpilot.serving")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, service: InferenceService,
                 drain_seconds: float) -> None:
        super().__init__(config)
        self._service = service
        self._drain_seconds = drain_seconds
        self._drain_timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self._drain_timer is None and not self.should_exit:
            # Runs in the signal handler: only set flags and start a timer thread.
            self._service.begin_drain()
            log.info("SIGTERM: readiness false; draining for %.1fs", self._drain_seconds)
            self._drain_timer = threading.Timer(self._drain_seconds, self._stop_accepting)
            self._drain_timer.daemon = True
            self._drain_timer.start()
            return
        self._service.begin_drain()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        if sig == signal.SIGTERM:
            self.should_exit = True  # exit 0 after the graceful shutdown, not by re-raising
            return
        super().handle_exit(sig, frame)

    def _stop_accepting(self) -> None:
        log.info("drain over: closing the listener, waiting for in-flight requests")
        self.should_exit = True


def build_config(app: object, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # per-request logging costs more than a batched predict
        log_level=settings.log_level,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds) or None,
        timeout_keep_alive=30,
    )


def run(app: object, service: InferenceService, settings: Settings) -> int:
    server = DrainingServer(build_config(app, settings), service=service,
                            drain_seconds=settings.drain_seconds)
    server.run()
    return 0 if server.started else 1
