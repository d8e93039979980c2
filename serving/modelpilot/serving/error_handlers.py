"""The one place errors become HTTP responses (see errors.py for the tree).

Every error body is JSON: {"error": message, "type": kind, ...position}. Client errors are
4xx and never 5xx; an unexpected exception is a 500 with its type named, and is logged.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .codec import encode
from .errors import ServingError

log = logging.getLogger("modelpilot.serving")


def _json(status: int, body: dict) -> Response:  # type: ignore[type-arg]
    return Response(content=encode(body), status_code=status, media_type="application/json")


def error_response(exc: BaseException, *, method: str, path: str) -> tuple[int, bytes]:
    """(status, JSON body) for any exception: the mapping both the FastAPI handlers and the
    inference fast path (fastpath.py) use."""
    if isinstance(exc, ServingError):
        if exc.status_code >= 500:
            log.error(
                "%s %s: %s%s",
                method,
                path,
                exc.message,
                f" ({exc.detail})" if exc.detail else "",
                exc_info=exc.__cause__ or exc,
            )
        return exc.status_code, encode(exc.body())
    log.error("%s %s failed", method, path, exc_info=exc)
    return 500, encode({"error": f"internal error: {type(exc).__name__}", "type": "internal_error"})


def error_headers(exc: BaseException) -> list[tuple[bytes, bytes]]:
    """Headers an error response carries besides the JSON content type (Retry-After)."""
    return exc.headers() if isinstance(exc, ServingError) else []


def register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServingError)
    async def serving_error(request: Request, exc: ServingError) -> Response:
        status, body = error_response(exc, method=request.method, path=request.url.path)
        headers = {k.decode(): v.decode() for k, v in exc.headers()}
        return Response(
            content=body, status_code=status, media_type="application/json", headers=headers or None
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        return Response(
            content=encode({"error": message, "type": kind}),
            status_code=exc.status_code,
            media_type="application/json",
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _json(
            400,
            {
                "error": "invalid request",
                "type": "bad_request",
                "detail": [str(e.get("msg")) for e in exc.errors()],
            },
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        status, body = error_response(exc, method=request.method, path=request.url.path)
        return Response(content=body, status_code=status, media_type="application/json")
