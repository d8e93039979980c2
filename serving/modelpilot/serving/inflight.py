"""One budget for the request bodies held in memory across all connections.

--max-body-bytes bounds one body and --limit-concurrency the connections, but together they
allowed 1,000 bodies of 8 MiB against a 1 GiB pod. `InflightBytesApp`, the outermost ASGI
layer, reserves a request's Content-Length from `InflightBytes` before anything reads the
body and returns it when the response is done (the body, and what was parsed from it, live
that long). When the budget cannot cover it the answer is 503 with Retry-After at once, and
the connection is closed, so the unread body is never buffered. A chunked body (no
Content-Length) reserves each chunk as it arrives and is refused the same way when one does
not fit. A body over --max-body-bytes reserves nothing: the route refuses it with 413 unread.

gRPC messages are bounded from the same settings in grpc_server.py (each message at most
--max-body-bytes, at most --max-inflight-bytes / --max-body-bytes RPCs at once).
"""

from __future__ import annotations

from typing import Any

from .codec import encode
from .errors import Overloaded

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class InflightBytes:
    """A counter of reserved bytes with a ceiling; single-threaded (the event loop)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def reserve(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def release(self, size: int) -> None:
        self.used -= size


def overloaded(limit: int) -> Overloaded:
    return Overloaded(
        f"the server holds its limit of {limit} bytes of request bodies "
        "(--max-inflight-bytes); retry later"
    )


class InflightBytesApp:
    def __init__(self, app: Any, *, max_inflight_bytes: int, max_body_bytes: int) -> None:
        self.app = app
        self.budget = InflightBytes(max_inflight_bytes)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_body_bytes:  # refused unread (413) by the route
                await self.app(scope, receive, send)
                return
            if not self.budget.reserve(declared):
                await _refuse(send, overloaded(self.budget.limit))
                return
            try:
                await self.app(scope, receive, send)
            finally:
                self.budget.release(declared)
            return
        await self._chunked(scope, receive, send)

    async def _chunked(self, scope: Any, receive: Any, send: Any) -> None:
        held = 0

        async def counted() -> Any:
            nonlocal held
            message = await receive()
            size = len(message.get("body", b""))
            if size and not self.budget.reserve(size):
                raise overloaded(self.budget.limit)  # the routes answer 503 + Retry-After
            held += size
            return message

        try:
            await self.app(scope, counted, send)
        finally:
            self.budget.release(held)


def _content_length(scope: Any) -> int | None:
    """The declared body size; None when absent or unreadable (the route names the
    latter)."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return None
    return None


async def _refuse(send: Any, exc: Overloaded) -> None:
    body = encode(exc.body())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the body stays unread: never keep the connection
        *exc.headers(),
    ]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
