"""A tensor's declared shape and byte count are checked before any element is decoded, on
the binary HTTP path and both gRPC paths: a huge BYTES tensor costs neither the event
loop's time nor memory in proportion to its element count."""

from __future__ import annotations

import struct
import tracemalloc

import orjson
import pytest

from modelpilot.serving import grpc_server, v2
from modelpilot.serving.errors import InvalidInput, PayloadTooLarge
from modelpilot.serving.features import FeatureLayout
from modelpilot.serving.oip import open_inference_pb2 as pb

# A categorical and a numeric column, as a tabular model trained on users' data has.
LAYOUT = FeatureLayout(names=("color", "size"), kinds=("O", "f"), max_rows=64)


def _binary_body(name: str, shape: list[int], raw: bytes) -> tuple[bytes, int]:
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": shape,
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    )
    return header + raw, len(header)


def _elements(count: int, text: bytes = b"ab") -> bytes:
    return (struct.pack("<I", len(text)) + text) * count


def test_too_many_declared_rows_are_refused_before_decoding_and_cost_little_memory():
    count = 200_000  # 1.2 MB of two-byte strings; each decoded would be a Python str
    body, length = _binary_body("color", [count], _elements(count))
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge) as caught:
            v2.parse_infer(body, LAYOUT, has_proba=False, header_length=length)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "'color'" in caught.value.message and "--max-batch-rows" in caught.value.message
    # Decoding would have built 200,000 str objects (about 10 MB); the check copies the
    # body's parts at most once.
    assert peak < 2 * len(body), peak


def test_the_row_cap_comes_before_an_element_that_is_not_text():
    # An invalid first element would be reported if anything were decoded first.
    raw = struct.pack("<I", 1) + b"\xff" + _elements(99)
    body, length = _binary_body("color", [100], raw)
    with pytest.raises(PayloadTooLarge, match="'color' has shape \\[100\\]: 100 rows"):
        v2.parse_infer(body, LAYOUT, has_proba=False, header_length=length)


def test_more_elements_per_row_than_features_are_refused_naming_the_input():
    body, length = _binary_body("color", [2, 500], _elements(1000))
    with pytest.raises(InvalidInput, match="'color' has shape \\[2, 500\\]: 500 elements per row"):
        v2.parse_infer(body, LAYOUT, has_proba=False, header_length=length)


def test_fewer_bytes_than_the_element_count_needs_are_refused_naming_the_input():
    body, length = _binary_body("color", [10], b"\x00" * 12)
    with pytest.raises(InvalidInput, match="'color': 10 BYTES elements need at least 40 bytes"):
        v2.parse_infer(body, LAYOUT, has_proba=False, header_length=length)


def test_a_bytes_tensor_within_the_bounds_still_decodes():
    body, length = _binary_body("color", [3], _elements(3, b"red"))
    tensor = v2._parse_tensor(
        0, orjson.loads(body[:length])["inputs"][0], LAYOUT, raw=body[length:]
    )
    assert tensor.flat == ["red", "red", "red"]


def _grpc(shape: list[int], *, raw: bytes | None = None, values: list[bytes] | None = None):
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name="color", datatype="BYTES", shape=shape)
    if raw is not None:
        request.raw_input_contents.append(raw)
    else:
        tensor.contents.bytes_contents.extend(values or [])
    return request


def test_grpc_raw_bytes_are_bounded_by_their_declaration():
    raw = struct.pack("<I", 1) + b"\xff" + _elements(99)
    with pytest.raises(PayloadTooLarge, match="'color' has shape \\[100\\]"):
        grpc_server.parse_infer(_grpc([100], raw=raw), LAYOUT, has_proba=False)
    with pytest.raises(InvalidInput, match="'color': 10 BYTES elements need at least 40"):
        grpc_server.parse_infer(_grpc([10], raw=b"\x00" * 12), LAYOUT, has_proba=False)


def test_grpc_typed_bytes_are_bounded_before_decoding():
    values = [b"\xff"] + [b"ab"] * 99  # the first is not UTF-8: decoding would say so first
    with pytest.raises(PayloadTooLarge, match="'color' has shape \\[100\\]"):
        grpc_server.parse_infer(_grpc([100], values=values), LAYOUT, has_proba=False)
