"""Run the app under uvicorn with a Kubernetes-shaped shutdown.

SIGTERM (the kubelet stopping the pod): readiness goes false at once, requests are still
answered for `drain_seconds` so endpoint controllers and load balancers stop routing here,
then the listener closes and in-flight requests finish (at most
`shutdown_timeout_seconds`), then the process exits 0. A second SIGTERM or a SIGINT skips
the drain wait.

Slow clients are bounded: uvicorn's `limit_concurrency` answers 503 beyond that many open
connections and running requests, and `TimedHttpProtocol` closes a connection whose client
takes longer than `header_timeout_seconds` to send a request's headers (counted from the
connection or the request's first byte) or `body_timeout_seconds` to send its body.
uvicorn itself only times out idle keep-alive connections, so without these a client that
trickles one header byte at a time (slowloris) would hold its connection for ever.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from modelpilot.api import logformat

from .service import InferenceService
from .settings import Settings

log = logging.getLogger("modelpilot.serving")


class DrainingServer(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, *, service: InferenceService, drain_seconds: float
    ) -> None:
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


class TimedHttpProtocol(HttpToolsProtocol):
    """httptools' protocol with a deadline for each request's headers and for its body."""

    header_timeout = 10.0
    body_timeout = 30.0
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()  # a handler waiting for the body sees a disconnect

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)  # a connection that never sends a request

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._arm(self.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def build_config(app: object, settings: Settings) -> uvicorn.Config:
    protocol = type(
        "TimedHttpProtocol",
        (TimedHttpProtocol,),
        {
            "header_timeout": settings.header_timeout_seconds,
            "body_timeout": settings.body_timeout_seconds,
        },
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=protocol,
        limit_concurrency=settings.limit_concurrency,
        lifespan="on",
        access_log=False,  # per-request logging costs more than a batched predict
        log_level=settings.log_level,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds) or None,
        timeout_keep_alive=30,
        # JSON logs: uvicorn's own loggers go through the root handler (modelpilot.api
        # .logformat) instead of its text formatter.
        **({"log_config": None} if settings.log_format == "json" else {}),
    )


class RequestIdApp:
    """Outermost ASGI layer: the request's X-Request-ID into logformat.request_id, so every
    record logged while handling it carries it (JSON logs)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        found = next((v for k, v in scope.get("headers") or () if k == b"x-request-id"), None)
        token = logformat.request_id.set(found.decode("latin-1")[:128] if found else None)
        try:
            await self.app(scope, receive, send)
        finally:
            logformat.request_id.reset(token)


def run(app: object, service: InferenceService, settings: Settings) -> int:
    if settings.log_format == "json":
        app = RequestIdApp(app)
    server = DrainingServer(
        build_config(app, settings), service=service, drain_seconds=settings.drain_seconds
    )
    server.run()
    return 0 if server.started else 1
