"""`create_app(settings, model=None)`: one FastAPI app per call, nothing built at import time.

Pass a loaded model (as `modelpilot serve` does, after verifying the bundle before the
server starts) or none, and the app loads it in its lifespan while readiness reports false.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from .error_handlers import register_error_handlers
from .model import SklearnModel
from .routes import build_router
from .service import InferenceService
from .settings import Settings


class ModelHeaders:
    """Pure ASGI middleware: every response names the model version and digest it came from,
    so traffic can be counted per version from the outside."""

    def __init__(self, app: Any, service: InferenceService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = self.service.response_headers
        if scope["type"] != "http" or not headers:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings, model: SklearnModel | None = None) -> FastAPI:
    service = InferenceService(settings, model)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="modelpilot model server",
        summary=f"Serves model {settings.model_name!r}: KServe V1 and Open Inference (V2).",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    register_error_handlers(app)
    app.add_middleware(ModelHeaders, service=service)
    app.include_router(build_router(service))
    return app
