"""`create_app(settings, model=None)`: one FastAPI app per call, nothing built at import time.

Pass a loaded model (as `modelpilot serve` does, after verifying the bundle before the
server starts) or none, and the app loads it in its lifespan while readiness reports false.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .error_handlers import register_error_handlers
from .fastpath import FastPathMiddleware
from .grpc_server import start_grpc_server
from .inflight import InflightBytesApp
from .model import SklearnModel
from .routes import build_router, package_version
from .service import InferenceService
from .settings import Settings


def create_app(settings: Settings, model: SklearnModel | None = None) -> FastAPI:
    service = InferenceService(settings, model)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        grpc = await start_grpc_server(service, settings, server_version=package_version())
        app.state.grpc_port = grpc[1] if grpc else None
        try:
            yield
        finally:
            if grpc is not None:  # GOAWAY: clients reconnect elsewhere; in-flight RPCs end
                await grpc[0].stop(grace=settings.shutdown_timeout_seconds)
            await service.stop()

    app = FastAPI(
        title="modelpilot model server",
        summary=f"Serves model {settings.model_name!r}: KServe V1 and Open Inference (V2).",
        lifespan=lifespan,
        # Off by default: the API documents itself only when asked (--enable-docs).
        docs_url="/docs" if settings.enable_docs else None,
        redoc_url="/redoc" if settings.enable_docs else None,
        openapi_url="/openapi.json" if settings.enable_docs else None,
    )
    app.state.service = service
    register_error_handlers(app)
    # Hot inference paths and the version headers on every response (see fastpath.py).
    app.add_middleware(FastPathMiddleware, service=service)
    # Added last, so outermost: a body the byte budget cannot hold is refused unread.
    app.add_middleware(
        InflightBytesApp,
        max_inflight_bytes=settings.max_inflight_bytes,
        max_body_bytes=settings.max_body_bytes,
    )
    app.include_router(build_router(service))
    return app
