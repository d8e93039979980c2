"""The operator's HTTP endpoint on the port the chart names: /healthz and /metrics.

kopf's own liveness endpoint serves only /healthz, and the chart's Service and
ServiceMonitor scrape /metrics on the same port, so the operator serves both itself (aiohttp,
which kopf already runs on) and kopf's endpoint stays off. /healthz answers 200 as soon as
the process is up, leader or standby: a standby is healthy, and probing it must not restart
it. /metrics renders `OperatorMetrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from modelpilot.operator.telemetry import CONTENT_TYPE, OperatorMetrics


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Address:
        """`http://0.0.0.0:8080/healthz` (the MODELPILOT_LIVENESS_ENDPOINT form) -> host, port."""
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.port is None:
            raise ValueError(f"{url!r}: expected http://HOST:PORT[/healthz]")
        return cls(parts.hostname or "0.0.0.0", parts.port)


def create_app(metrics: OperatorMetrics) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def render(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", render)
    return app


async def serve(metrics: OperatorMetrics, address: Address) -> web.AppRunner:
    """Start serving in the running event loop; `await runner.cleanup()` stops it."""
    runner = web.AppRunner(create_app(metrics), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address.host, address.port).start()
    return runner
