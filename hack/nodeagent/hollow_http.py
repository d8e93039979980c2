"""Hollow serving pods answer HTTP: the health routes and /metrics, without a process each.

The operator scrapes a serving pod's /metrics at its pod IP (canary analysis, drift), and
people and probes ask its health routes. A hollow pod runs nothing, so one asyncio loop in the
hollow node answers for all of them:

- each serving pod's IP is added (/32) to a link of its own on this machine
  (`HollowAddresses`: a bridge without ports, as containers' kernels may lack the dummy
  link type), so a connection to it from this machine's network namespace (where the bench
  runs the operator) is local; deleting the link at the end takes every address with it;
- `HollowServers` binds one listening socket per pod IP and HTTP port on that loop; a request
  costs a dict lookup and a write of bytes rendered once per pod;
- the /metrics page is the real server's (modelpilot.serving.metrics.ServingMetrics, under the
  names of modelpilot.api.serving_metrics) for the pod's model and version, as a server that
  has answered no request yet shows it. No drift series: a hollow pod counts no inputs.

HTTP/1.1 with keep-alive, GET and HEAD only; anything else is 404 or 405. Request bodies
are not expected (the routes served are all GETs) and a request with one is refused.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("nodeagent.hollow")
MAX_HEADER_BYTES = 16 * 1024
JSON = "application/json"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
}
# The real server's health routes and their bodies (modelpilot.serving.routes).
_HEALTH = {
    "/healthz": b'{"status":"ok"}',
    "/v2/health/live": b'{"live":true}',
    "/v2/health/ready": b'{"ready":true}',
    "/": b'{"status":"alive"}',
}


def answer(method: str, target: str, metrics_page: bytes) -> Answer:
    """What a hollow serving pod answers to `method target` (pure)."""
    path = target.split("?", 1)[0]
    if path == "/metrics":
        found = Answer(200, METRICS_CONTENT_TYPE, metrics_page)
    elif path in _HEALTH:
        found = Answer(200, JSON, _HEALTH[path])
    else:
        return Answer(404, JSON, b'{"error":"not found on a hollow pod"}')
    if method not in ("GET", "HEAD"):
        return Answer(405, JSON, b'{"error":"method not allowed"}')
    return found


def metrics_page(model: str, version: str, *, task: str, classes: list[Any] | None) -> bytes:
    """The real server's /metrics before its first request."""
    from modelpilot.serving.metrics import ServingMetrics

    return ServingMetrics(model=model, version=version, task=task, classes=classes).render()


class _Http(asyncio.Protocol):
    def __init__(self, page: bytes, open_connections: set[asyncio.Transport]) -> None:
        self._page = page
        self._open = open_connections  # closed with the pod's servers
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = self._connection = transport
        self._open.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._open.discard(self._connection)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and b"\r\n\r\n" in self._buffer:
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            self._respond(head)
        if self._transport is not None and len(self._buffer) > MAX_HEADER_BYTES:
            self._send(Answer(431, JSON, b'{"error":"headers too large"}'), "HTTP/1.1", False)

    def _respond(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self._send(Answer(400, JSON, b'{"error":"bad request line"}'), "HTTP/1.1", False)
            return
        method, target, version = parts
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        connection = headers.get("connection", "").lower()
        keep = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers:
            self._send(Answer(400, JSON, b'{"error":"no request body expected"}'), version, False)
            return
        found = answer(method, target, self._page)
        self._send(found, version, keep, head_only=method == "HEAD")

    def _send(self, found: Answer, version: str, keep: bool, *, head_only: bool = False) -> None:
        assert self._transport is not None
        reason = _REASONS.get(found.status, "")
        header = (
            f"{version} {found.status} {reason}\r\nContent-Type: {found.content_type}\r\n"
            f"Content-Length: {len(found.body)}\r\n"
            f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
        ).encode()
        self._transport.write(header if head_only else header + found.body)
        if not keep:
            self._transport.close()
            self._transport = None


class HollowServers:
    """One event loop thread; per (ip, port) a listening socket that answers for a pod."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._servers: dict[tuple[str, int], asyncio.Server] = {}
        self._connections: dict[str, set[asyncio.Transport]] = {}  # per pod IP
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="hollow-http", daemon=True
        )
        self._thread.start()

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=30)

    def open(self, ip: str, port: int, page: bytes) -> int:
        """Answer on ip:port (port 0: any free one); returns the port bound."""

        async def start() -> int:
            connections = self._connections.setdefault(ip, set())
            server = await self._loop.create_server(
                lambda: _Http(page, connections), host=ip, port=port, reuse_address=True
            )
            bound = int(server.sockets[0].getsockname()[1])
            self._servers[(ip, bound)] = server
            return bound

        return int(self._call(start()))

    def close(self, ip: str) -> None:
        """Stop answering on every port of `ip` (the pod is gone)."""

        async def stop() -> None:
            for key in [k for k in self._servers if k[0] == ip]:
                server = self._servers.pop(key)
                server.close()
                await server.wait_closed()
            for transport in self._connections.pop(ip, set()):
                transport.close()

        self._call(stop())

    def shutdown(self) -> None:
        for ip in {ip for ip, _ in list(self._servers)}:
            self.close(ip)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


class HollowAddresses:
    """Pod IPs held by a portless bridge, so this machine answers for them (CAP_NET_ADMIN)."""

    def __init__(self, link: str) -> None:
        if len(link) > 15:
            raise ValueError(f"link name {link!r} is longer than 15 bytes")
        self.link = link

    def ensure(self) -> None:
        if _ip("link", "show", self.link, check=False).returncode != 0:
            _ip("link", "add", self.link, "type", "bridge")
        _ip("link", "set", self.link, "up")

    def add(self, ip: str) -> None:
        result = _ip("addr", "add", f"{ip}/32", "dev", self.link, check=False)
        if result.returncode != 0 and "File exists" not in result.stderr:
            raise RuntimeError(f"adding {ip} to {self.link}: {result.stderr.strip()}")

    def remove(self, ip: str) -> None:
        _ip("addr", "del", f"{ip}/32", "dev", self.link, check=False)

    def close(self) -> None:
        _ip("link", "delete", self.link, check=False)
