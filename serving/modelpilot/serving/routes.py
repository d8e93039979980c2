"""HTTP routes: thin on purpose. Read the body, call the service, wrap bytes in a response.

Bodies are read as raw bytes and parsed by the protocol modules (no per-request pydantic
model: a 32x50 tensor would cost more to validate as objects than to predict). The request
schemas still appear in the OpenAPI document through `openapi_extra`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from modelpilot.api.version import installed_version

from . import binary, request_ids, v1, v2
from .codec import encode
from .errors import MalformedRequest, PayloadTooLarge
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .service import InferenceService, Reply

JSON = "application/json"


def _body_doc(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {JSON: {"schema": schema}}}}


def _json(content: bytes, status_code: int = 200) -> Response:
    return Response(content=content, status_code=status_code, media_type=JSON)


def _v2_reply(reply: Reply) -> Response:
    """JSON, or a JSON header plus binary outputs (binary.py) with its length in a header."""
    content, header_length, request_id = reply
    if header_length is None:
        response = _json(content)
    else:
        response = Response(
            content=content,
            media_type=binary.CONTENT_TYPE,
            headers={binary.HEADER: str(header_length)},
        )
    response.headers[request_ids.HEADER] = request_id
    return response


async def _v2_infer(service: InferenceService, request: Request, limit: int) -> Response:
    header_length = binary.header_length(request.headers.get(binary.HEADER))
    body = await read_body(request, limit)
    return _v2_reply(
        await service.infer_v2(body, header_length, request.headers.get(request_ids.HEADER))
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes before reading them when possible."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise MalformedRequest(f"invalid Content-Length {declared!r}") from None
        if size > limit:
            raise PayloadTooLarge(
                f"request body is {size} bytes; this server accepts at most {limit} "
                "(--max-body-bytes)"
            )
        return await request.body()
    chunks = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes (--max-body-bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def build_router(service: InferenceService) -> APIRouter:
    router = APIRouter()
    limit = service.settings.max_body_bytes

    # -- health (separate liveness and readiness) -------------------------------------------

    @router.get("/v2/health/live", tags=["health"])
    async def live() -> Response:
        return _json(b'{"live":true}')

    @router.get("/v2/health/ready", tags=["health"])
    async def ready() -> Response:
        ok = service.ready
        return _json(b'{"ready":true}' if ok else b'{"ready":false}', 200 if ok else 503)

    @router.get("/", tags=["health"], include_in_schema=False)
    async def root() -> Response:  # KServe V1 liveness
        return _json(b'{"status":"alive"}')

    @router.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        return Response(content=service.render_metrics(), media_type=METRICS_CONTENT_TYPE)

    # -- KServe V1 ---------------------------------------------------------------------------

    @router.get("/v1/models", tags=["v1"])
    async def v1_models() -> Response:
        return _json(encode({"models": [service.name]}))

    @router.get("/v1/models/{name}", tags=["v1"])
    async def v1_model(name: str) -> Response:
        service.check_name(name)
        ok = service.ready
        return _json(v1.model_status(name, ready=ok), 200 if ok else 503)

    @router.post(
        "/v1/models/{name}:predict", tags=["v1"], openapi_extra=_body_doc(v1.REQUEST_SCHEMA)
    )
    async def v1_predict(name: str, request: Request) -> Response:
        with service.observe(v1.PROTOCOL):
            service.check_name(name)
            body = await read_body(request, limit)
            reply = await service.infer_v1(body, request.headers.get(request_ids.HEADER))
            response = _json(reply.content)
            response.headers[request_ids.HEADER] = reply.request_id
            return response

    # -- Open Inference Protocol (V2) ------------------------------------------------------

    @router.get("/v2", tags=["v2"])
    async def v2_server() -> Response:
        return _json(encode(v2.server_metadata(package_version())))

    @router.get("/v2/models/{name}", tags=["v2"])
    async def v2_model(name: str) -> Response:
        service.check_name(name)
        return _json(service.v2_metadata())

    @router.get("/v2/models/{name}/versions/{version}", tags=["v2"])
    async def v2_model_version(name: str, version: str) -> Response:
        service.check_name(name)
        service.check_version(version)
        return _json(service.v2_metadata())

    @router.get("/v2/models/{name}/ready", tags=["v2"])
    async def v2_model_ready(name: str) -> Response:
        service.check_name(name)
        ok = service.ready
        return _json(encode({"name": name, "ready": ok}), 200 if ok else 503)

    @router.get("/v2/models/{name}/versions/{version}/ready", tags=["v2"])
    async def v2_model_version_ready(name: str, version: str) -> Response:
        service.check_name(name)
        service.check_version(version)
        ok = service.ready
        return _json(encode({"name": name, "ready": ok}), 200 if ok else 503)

    @router.post("/v2/models/{name}/infer", tags=["v2"], openapi_extra=_body_doc(v2.REQUEST_SCHEMA))
    async def v2_infer(name: str, request: Request) -> Response:
        with service.observe(v2.PROTOCOL):
            service.check_name(name)
            return await _v2_infer(service, request, limit)

    @router.post(
        "/v2/models/{name}/versions/{version}/infer",
        tags=["v2"],
        openapi_extra=_body_doc(v2.REQUEST_SCHEMA),
    )
    async def v2_infer_version(name: str, version: str, request: Request) -> Response:
        with service.observe(v2.PROTOCOL):
            service.check_name(name)
            service.check_version(version)
            return await _v2_infer(service, request, limit)

    _add_feedback_route(router, service, limit)
    return router


def _add_feedback_route(router: APIRouter, service: InferenceService, limit: int) -> None:
    """Labels by request id (modelpilot.serving.feedback)."""

    @router.post(
        "/v2/models/{name}/feedback",
        tags=["v2"],
        openapi_extra=_body_doc(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "label"],
                    "properties": {"id": {"type": "string"}, "label": {}},
                },
            }
        ),
    )
    async def v2_feedback(name: str, request: Request) -> Response:
        service.check_name(name)
        return _json(service.feedback(await read_body(request, limit)))


def package_version() -> str:
    return installed_version()
