"""The Open Inference Protocol over gRPC: same answers, validation and metrics as HTTP, and
status codes as KServe maps them. Talks through the committed stubs over a real channel."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from serving_helpers import free_socket, running

from modelpilot.serving import errors, grpc_server
from modelpilot.serving.oip import generate
from modelpilot.serving.oip import open_inference_pb2 as pb
from modelpilot.serving.oip import open_inference_pb2_grpc as pb_grpc


def free_port() -> int:
    with free_socket() as sock:
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(iris_bundle) -> Iterator[tuple[str, Any]]:
    settings = iris_bundle.settings(max_batch_rows=64, grpc_port=free_port())
    with (
        running(settings) as (url, app),
        grpc.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel,
    ):
        yield url, pb_grpc.GRPCInferenceServiceStub(channel)


def raw_request(rows: np.ndarray, datatype: str = "FP64", **fields: Any) -> Any:
    dtype = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8"}[datatype]
    request = pb.ModelInferRequest(model_name="iris", **fields)
    request.inputs.add(name="input-0", datatype=datatype, shape=rows.shape)
    request.raw_input_contents.append(rows.astype(dtype).tobytes())
    return request


def test_health_and_metadata(served):
    _, stub = served
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="iris")).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="iris", version="v1")).ready
    server = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert server.name == "modelpilot" and "binary_tensor_data" in server.extensions
    model = stub.ModelMetadata(pb.ModelMetadataRequest(name="iris"))
    assert (model.name, list(model.versions), model.platform) == ("iris", ["v1"], "sklearn")
    assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [
        ("input-0", "FP64", [-1, 4])
    ]
    assert [t.name for t in model.outputs] == ["predict", "predict_proba"]


@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_raw_contents_in_raw_contents_out(served, iris_bundle, datatype):
    _, stub = served
    rows = iris_bundle.X[::9]
    request = raw_request(rows, datatype, id="g1")
    request.outputs.add(name="predict")
    request.outputs.add(name="predict_proba")
    response = stub.ModelInfer(request)
    assert (response.model_name, response.model_version, response.id) == ("iris", "v1", "g1")
    predict, proba = response.outputs
    sent = rows.astype(np.float32 if datatype == "FP32" else np.float64).astype(np.float64)
    assert (predict.datatype, list(predict.shape)) == ("INT64", [len(rows)])
    assert (proba.datatype, list(proba.shape)) == ("FP64", [len(rows), 3])
    assert (
        np.frombuffer(response.raw_output_contents[0], "<i8").tolist()
        == iris_bundle.estimator.predict(sent).tolist()
    )
    assert np.allclose(
        np.frombuffer(response.raw_output_contents[1], "<f8"),
        iris_bundle.estimator.predict_proba(sent).reshape(-1),
    )


def test_typed_contents_in_typed_contents_out(served, iris_bundle):
    _, stub = served
    rows = iris_bundle.X[:5]
    request = pb.ModelInferRequest(model_name="iris")
    tensor = request.inputs.add(name="input-0", datatype="FP64", shape=[5, 4])
    tensor.contents.fp64_contents.extend(rows.reshape(-1).tolist())
    response = stub.ModelInfer(request)
    assert not response.raw_output_contents
    assert (
        list(response.outputs[0].contents.int64_contents)
        == iris_bundle.estimator.predict(rows).tolist()
    )


def test_per_feature_typed_inputs(served, iris_bundle):
    _, stub = served
    rows = iris_bundle.X[3:6]
    request = pb.ModelInferRequest(model_name="iris")
    for column, name in enumerate(iris_bundle.metadata.features.names):
        tensor = request.inputs.add(name=name, datatype="FP32", shape=[3])
        tensor.contents.fp32_contents.extend(rows[:, column].tolist())
    response = stub.ModelInfer(request)
    expected = iris_bundle.estimator.predict(rows.astype(np.float32).astype(np.float64))
    assert list(response.outputs[0].contents.int64_contents) == expected.tolist()


BAD = {
    "unknown-model": (
        lambda: pb.ModelInferRequest(model_name="nope"),
        grpc.StatusCode.NOT_FOUND,
        "nope",
    ),
    "unknown-version": (
        lambda: raw_request(np.ones((1, 4)), model_version="v9"),
        grpc.StatusCode.NOT_FOUND,
        "v9",
    ),
    "wrong-feature-count": (
        lambda: raw_request(np.ones((2, 3))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input-0",
    ),
    "nan": (
        lambda: raw_request(np.array([[1.0, np.nan, 2.0, 3.0]])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "finite",
    ),
    "raw-size-not-the-shape": (
        lambda: _resized(raw_request(np.ones((2, 4))), 8),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input-0",
    ),
    "unknown-output": (
        lambda: _with_output(raw_request(np.ones((1, 4))), "logits"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "logits",
    ),
    "no-inputs": (
        lambda: pb.ModelInferRequest(model_name="iris"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input",
    ),
    "too-many-rows": (
        lambda: raw_request(np.ones((65, 4))),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "65",
    ),
    "typed-count-not-the-shape": (
        lambda: _typed([2, 4], [1.0] * 7),
        grpc.StatusCode.INVALID_ARGUMENT,
        "7",
    ),
}


def _resized(request: Any, size: int) -> Any:
    request.raw_input_contents[0] = request.raw_input_contents[0][:size]
    return request


def _with_output(request: Any, name: str) -> Any:
    request.outputs.add(name=name)
    return request


def _typed(shape: list[int], values: list[float]) -> Any:
    request = pb.ModelInferRequest(model_name="iris")
    request.inputs.add(name="input-0", datatype="FP64", shape=shape).contents.fp64_contents.extend(
        values
    )
    return request


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_errors_map_to_status_codes_as_kserve_does(served, case):
    _, stub = served
    build, code, needle = BAD[case]
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(build())
    assert caught.value.code() == code
    assert needle in caught.value.details()


def test_unknown_model_metadata_and_readiness_are_not_found(served):
    _, stub = served
    for call, request in (
        (stub.ModelMetadata, pb.ModelMetadataRequest(name="x")),
        (stub.ModelReady, pb.ModelReadyRequest(name="x")),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call(request)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpc_requests_are_counted_under_the_same_names_with_a_protocol_label(served):
    url, stub = served
    stub.ModelInfer(raw_request(np.ones((1, 4))))
    with pytest.raises(grpc.RpcError):
        stub.ModelInfer(raw_request(np.ones((1, 3))))
    text = httpx.get(f"{url}/metrics").text
    assert 'modelpilot_requests_total{code="200",model="iris",protocol="grpc",version="v1"}' in text
    assert 'modelpilot_requests_total{code="400",model="iris",protocol="grpc",version="v1"}' in text


def test_grpc_port_zero_means_no_grpc(iris_bundle):
    with running(iris_bundle.settings(grpc_port=0)) as (_, app):
        assert app.state.grpc_port is None


def test_committed_stubs_are_what_the_pinned_grpcio_tools_generates():
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate.generate(Path(tmp))
    for name, content in fresh.items():
        assert (generate.HERE / name).read_bytes() == content, (
            f"{name} is stale: run python -m modelpilot.serving.oip.generate"
        )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InvalidInput("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.MalformedRequest("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.ModelNotFound("x"), grpc.StatusCode.NOT_FOUND),
        (errors.PayloadTooLarge("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.ModelNotReady("x"), grpc.StatusCode.UNAVAILABLE),
        (errors.PredictionFailed("x"), grpc.StatusCode.INTERNAL),
        (ValueError("x"), grpc.StatusCode.INTERNAL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v.name,
)
def test_status_codes_follow_kserve(error, code):
    assert grpc_server.status_code(error) == code


def test_draining_turns_readiness_false_and_still_answers(iris_bundle):
    settings = iris_bundle.settings(grpc_port=free_port())
    with (
        running(settings) as (_, app),
        grpc.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel,
    ):
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        app.state.service.begin_drain()
        assert not stub.ServerReady(pb.ServerReadyRequest()).ready
        assert not stub.ModelReady(pb.ModelReadyRequest(name="iris")).ready
        assert stub.ModelInfer(raw_request(np.ones((1, 4)))).outputs[0].name == "predict"


def test_a_grpc_request_gets_a_request_id_and_its_label_can_be_fed_back(served):
    url, stub = served
    rows = np.array([[5.1, 3.5, 1.4, 0.2]])
    anonymous = stub.ModelInfer(raw_request(rows))
    assert len(anonymous.id) == 32  # generated, as over HTTP
    named = stub.ModelInfer(raw_request(rows, id="grpc-order-1"))
    assert named.id == "grpc-order-1"
    feedback = [{"id": "grpc-order-1", "label": 1}, {"id": anonymous.id, "label": 0}]
    answer = httpx.post(f"{url}/v2/models/iris/feedback", json=feedback)
    assert answer.status_code == 200 and answer.json()["accepted"] == 2
