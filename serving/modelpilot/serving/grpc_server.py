"""The Open Inference Protocol over gRPC, beside the HTTP routes in the same process.

KServe, Triton and MLServer all serve `inference.GRPCInferenceService` (oip/open_inference.proto),
and many production clients only speak that. This server runs on grpcio's asyncio server in
the event loop uvicorn runs, and shares everything with the HTTP path: the loaded model, the
micro-batcher (a gRPC and an HTTP request can land in one predict call), the tensor
validation of v2.py, and the /metrics series, counted with `protocol="grpc"` and the HTTP
status code the same error would have had, so canary analysis counts gRPC errors without
knowing about gRPC.

Errors map to status codes as KServe's gRPC server maps them: INVALID_ARGUMENT for a
request that does not fit the model, NOT_FOUND for an unknown model or version,
UNAVAILABLE when the model is not loaded or the server is shutting down, RESOURCE_EXHAUSTED
for more rows than --max-batch-rows, INTERNAL otherwise (with the exception's type, never
its text).

Responses use `raw_output_contents` when the request sent `raw_input_contents` (what
tritonclient and KServe's client do by default), typed `contents` otherwise.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import grpc
import numpy as np

from . import binary, declared, request_ids, v2
from .errors import (
    InvalidInput,
    MalformedRequest,
    ModelNotFound,
    ModelNotReady,
    PayloadTooLarge,
    ServingError,
)
from .oip import open_inference_pb2 as pb
from .oip import open_inference_pb2_grpc as pb_grpc
from .service import InferenceService
from .settings import Settings

log = logging.getLogger("modelpilot.serving")

PROTOCOL = "grpc"  # the `protocol` label of the request metrics

# datatype -> the InferTensorContents field that carries it typed
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def status_code(exc: BaseException) -> grpc.StatusCode:
    """The gRPC status for an error (errors.py's tree), as KServe maps its errors."""
    if isinstance(exc, ModelNotFound):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, PayloadTooLarge):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, (InvalidInput, MalformedRequest)) or (
        isinstance(exc, ServingError) and 400 <= exc.status_code < 500
    ):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, ModelNotReady):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


class OpenInferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, service: InferenceService, *, server_version: str) -> None:
        self.service = service
        self.server_version = server_version

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self.service.ready)

    async def ModelReady(self, request: Any, context: Any) -> Any:
        return await self._answer(context, self._model_ready, request)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        metadata = v2.server_metadata(self.server_version)
        return pb.ServerMetadataResponse(
            name=metadata["name"], version=metadata["version"], extensions=metadata["extensions"]
        )

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        return await self._answer(context, self._model_metadata, request)

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        try:
            with self.service.observe(PROTOCOL):
                return await self._infer(request)
        except Exception as exc:
            await _abort(context, exc, "ModelInfer")

    # -- internals -------------------------------------------------------------------------

    async def _answer(self, context: Any, handler: Any, request: Any) -> Any:
        try:
            return handler(request)
        except Exception as exc:
            await _abort(context, exc, type(request).__name__)

    def _check_model(self, name: str, version: str) -> None:
        self.service.check_name(name)
        if version:
            self.service.check_version(version)

    def _model_ready(self, request: Any) -> Any:
        self._check_model(request.name, request.version)
        return pb.ModelReadyResponse(ready=self.service.ready)

    def _model_metadata(self, request: Any) -> Any:
        self._check_model(request.name, request.version)
        self.service.v2_metadata()  # raises while not loaded
        metadata = self.service.v2_metadata_fields
        return pb.ModelMetadataResponse(
            name=metadata["name"],
            versions=metadata["versions"],
            platform=metadata["platform"],
            inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in metadata["inputs"]],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in metadata["outputs"]],
        )

    async def _infer(self, request: Any) -> Any:
        service = self.service
        self._check_model(request.model_name, request.model_version)
        layout = service.feature_layout()
        parsed, raw = parse_infer(request, layout, has_proba=service.model.has_proba)
        # The request id as over HTTP (no header here: the OIP id, else a new one).
        request_id = request_ids.choose(None, parsed.id)
        result = await service.predict(parsed)
        service.remember(request_id, parsed.features, result)
        response = pb.ModelInferResponse(
            model_name=service.name, model_version=service.model.version, id=request_id
        )
        for name in parsed.outputs:
            array = result.predictions if name == v2.OUTPUT_PREDICT else result.probabilities
            assert array is not None
            datatype = v2.datatype_of(array)
            tensor = response.outputs.add(name=name, datatype=datatype, shape=array.shape)
            if raw:
                response.raw_output_contents.append(binary.encode_array(array))
            else:
                _fill_contents(tensor.contents, array, datatype)
        return response


def parse_infer(request: Any, layout: Any, *, has_proba: bool) -> tuple[v2.InferRequest, bool]:
    """(the validated request, whether its inputs came as raw_input_contents)."""
    outputs = v2.requested_outputs([{"name": o.name} for o in request.outputs], has_proba=has_proba)
    if not request.inputs:
        raise MalformedRequest("a ModelInfer request needs at least one input tensor")
    raw_contents = request.raw_input_contents
    raw = len(raw_contents) > 0
    if raw and len(raw_contents) != len(request.inputs):
        raise InvalidInput(
            f"raw_input_contents has {len(raw_contents)} entries for {len(request.inputs)} "
            "inputs; send one per input, in the order of inputs"
        )
    tensors = [
        _tensor(i, tensor, raw_contents[i] if raw else None, layout)
        for i, tensor in enumerate(request.inputs)
    ]
    features = v2.tensors_to_features(tensors, layout)
    return v2.InferRequest(features=features, outputs=outputs, id=request.id or None), raw


def _tensor(index: int, tensor: Any, raw: bytes | None, layout: Any) -> v2.Tensor:
    name, datatype = tensor.name, tensor.datatype
    shape = list(tensor.shape)
    if not shape or any(d < 0 for d in shape):
        raise MalformedRequest(f"input {name!r}: shape {shape} must be non-empty sizes >= 0")
    if datatype not in v2.DATATYPES:
        raise InvalidInput(
            f"input {name!r}: unsupported datatype {datatype!r}; one of {', '.join(v2.DATATYPES)}"
        )
    count = math.prod(shape)
    if raw is not None:
        if tensor.HasField("contents"):
            raise InvalidInput(
                f"input {name!r}: has contents while the request uses raw_input_contents"
            )
        if datatype == "BYTES":
            # From the declaration alone, before the per-element decoding loop.
            declared.check_shape(name, shape, layout)
            declared.check_bytes_size(name, count, len(raw))
            return v2.Tensor(
                index=index,
                name=name,
                shape=shape,
                datatype=datatype,
                flat=binary.decode_bytes(raw, name=name, count=count),
            )
        return v2.Tensor(index=index, name=name, shape=shape, datatype=datatype, flat=[], raw=raw)
    field = _CONTENTS_FIELD.get(datatype)
    if field is None:
        raise InvalidInput(f"input {name!r}: {datatype} travels only in raw_input_contents")
    if datatype == "BYTES":  # before a Python object is made for each element
        declared.check_shape(name, shape, layout)
    values = list(getattr(tensor.contents, field))
    if len(values) != count:
        raise InvalidInput(
            f"input {name!r}: shape {shape} needs {count} elements, contents.{field} has "
            f"{len(values)}"
        )
    if datatype == "BYTES":
        try:
            values = [v.decode() for v in values]
        except UnicodeDecodeError:
            raise InvalidInput(f"input {name!r}: a BYTES element is not UTF-8 text") from None
    return v2.Tensor(index=index, name=name, shape=shape, datatype=datatype, flat=values)


def _fill_contents(contents: Any, array: np.ndarray, datatype: str) -> None:
    field = getattr(contents, _CONTENTS_FIELD.get(datatype, "bytes_contents"))
    values = array.reshape(-1).tolist()
    if datatype == "BYTES":
        values = [v if isinstance(v, bytes) else str(v).encode() for v in values]
    field.extend(values)


async def _abort(context: Any, exc: BaseException, what: str) -> None:
    code = status_code(exc)
    if isinstance(exc, ServingError):
        message = exc.message
        if code == grpc.StatusCode.INTERNAL:
            log.error("gRPC %s: %s", what, message, exc_info=exc.__cause__ or exc)
    else:
        log.error("gRPC %s failed", what, exc_info=exc)
        message = f"internal error: {type(exc).__name__}"
    await context.abort(code, message)


def grpc_concurrency(settings: Settings) -> int:
    return max(1, settings.max_inflight_bytes // settings.max_body_bytes)


async def start_grpc_server(
    service: InferenceService, settings: Settings, *, server_version: str
) -> tuple[grpc.aio.Server, int] | None:
    """The asyncio gRPC server on settings.grpc_port (None when 0: off); (server, port)."""
    if not settings.grpc_port:
        return None
    server = grpc.aio.server(
        # Each message is held whole before the handler runs: at most --max-body-bytes
        # each, and only as many calls at once as --max-inflight-bytes holds of them;
        # beyond that, RESOURCE_EXHAUSTED at once.
        maximum_concurrent_rpcs=grpc_concurrency(settings),
        options=[
            # One listener per port: a second server on the same port is an error, not a
            # silent share of the traffic (gRPC sets SO_REUSEPORT by default).
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_send_message_length", -1),
        ],
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(
        OpenInferenceServicer(service, server_version=server_version), server
    )
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    try:
        port = server.add_insecure_port(f"{host}:{settings.grpc_port}")
    except RuntimeError as exc:
        raise OSError(f"cannot listen for gRPC on {host}:{settings.grpc_port}: {exc}") from exc
    await server.start()
    log.info("gRPC (Open Inference Protocol) on %s:%d", host, port)
    return server, port
