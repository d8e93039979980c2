"""The inference fast path: POSTs to this model's predict/infer URLs skip the web framework.

Profiling under load showed FastAPI's routing (a linear scan of every route, each a regex),
dependency solving and its exception middlewares costing several times our own parse,
batch and render per request. For the three hot paths of the one model this server holds,
an exact-string lookup dispatches straight to the same service methods the FastAPI routes
call, with the same body limit, metrics and error mapping (`error_handlers.error_response`).
Everything else — other names (404), health, metadata, /metrics, OpenAPI — goes through
FastAPI as declared in routes.py. The middleware also stamps every response with the
model's version and digest headers, and while draining after SIGTERM adds
`Connection: close`, so clients holding keep-alive connections move to other pods instead of
finding this one gone mid-request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from . import binary, request_ids, v1, v2
from .error_handlers import error_headers, error_response
from .errors import MalformedRequest, PayloadTooLarge
from .service import InferenceService, Reply

# (body, Inference-Header-Content-Length, X-Request-Id) -> the reply with its request id
Handler = Callable[[bytes, int | None, bytes | None], Awaitable[Reply]]
_JSON = (b"content-type", b"application/json")
_OCTETS = (b"content-type", binary.CONTENT_TYPE.encode())
_CLOSE = (b"connection", b"close")


class FastPathMiddleware:
    def __init__(self, app: Any, service: InferenceService) -> None:
        self.app = app
        self.service = service
        self._routes: dict[str, tuple[str, Handler]] | None = None

    def _hot_routes(self) -> dict[str, tuple[str, Handler]]:
        if self._routes is None:
            service = self.service
            name, version = service.name, service.model.version
            self._routes = {
                f"/v1/models/{name}:predict": (v1.PROTOCOL, self._v1_predict),
                f"/v2/models/{name}/infer": (v2.PROTOCOL, service.infer_v2),
                f"/v2/models/{name}/versions/{version}/infer": (v2.PROTOCOL, service.infer_v2),
            }
        return self._routes

    async def _v1_predict(self, body: bytes, _: int | None, header_id: bytes | None) -> Reply:
        return await self.service.infer_v1(body, header_id)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.service.response_headers
        if not headers:  # not started: no version to stamp, no fast path yet
            await self.app(scope, receive, send)
            return
        if self.service.draining:
            headers = [*headers, _CLOSE]
        if scope["method"] == "POST":
            route = self._hot_routes().get(scope["path"])
            if route is not None:
                await self._infer(route, scope, receive, send, headers)
                return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _infer(
        self,
        route: tuple[str, Handler],
        scope: Any,
        receive: Any,
        send: Any,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        protocol, handler = route
        service = self.service
        header_length = None
        header_id = _request_id_header(scope)
        try:
            with service.observe(protocol):
                body = await read_body(scope, receive, service.settings.max_body_bytes)
                content, header_length, request_id = await handler(
                    body, _binary_header(scope), header_id
                )
            status = 200
            headers = [*headers, (request_ids.HEADER_BYTES, request_id.encode())]
        except Exception as exc:  # mapped exactly as the FastAPI handlers map it
            status, content = error_response(exc, method="POST", path=scope["path"])
            headers = [*headers, *error_headers(exc)]
            if header_id is not None:
                headers.append((request_ids.HEADER_BYTES, header_id))
        if header_length is None:
            kind = [_JSON]
        else:
            kind = [_OCTETS, (binary.HEADER_BYTES, str(header_length).encode())]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*kind, (b"content-length", str(len(content)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": content})


def _request_id_header(scope: Any) -> bytes | None:
    for key, value in scope["headers"]:
        if key == request_ids.HEADER_BYTES:
            return value  # type: ignore[no-any-return]
    return None


def _binary_header(scope: Any) -> int | None:
    """The request's Inference-Header-Content-Length (binary tensor data), if any."""
    for key, value in scope["headers"]:
        if key == binary.HEADER_BYTES:
            return binary.header_length(value)
    return None


async def read_body(scope: Any, receive: Any, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes (before reading, when declared)."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise MalformedRequest(f"invalid Content-Length {value!r}") from None
            if declared > limit:
                raise PayloadTooLarge(
                    f"request body is {declared} bytes; this server accepts at most {limit} "
                    "(--max-body-bytes)"
                )
            break
    chunks = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise MalformedRequest("the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes (--max-body-bytes)")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
