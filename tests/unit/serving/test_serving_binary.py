"""The binary tensor data extension (binary.py): raw tensors after a JSON header, both ways,
as strict as JSON. Raw bodies are built here byte by byte, as the protocol describes them,
so these tests do not depend on a client library (test_serving_clients.py uses two)."""

from __future__ import annotations

import struct

import httpx
import numpy as np
import orjson
import pytest

HEADER = "Inference-Header-Content-Length"


def binary_request(header: dict, *blobs: bytes) -> tuple[bytes, dict[str, str]]:
    text = orjson.dumps(header)
    return text + b"".join(blobs), {
        HEADER: str(len(text)),
        "Content-Type": "application/octet-stream",
    }


def binary_input(name: str, array: np.ndarray, datatype: str) -> tuple[dict, bytes]:
    raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
    return {
        "name": name,
        "shape": list(array.shape),
        "datatype": datatype,
        "parameters": {"binary_data_size": len(raw)},
    }, raw


def split_response(response: httpx.Response) -> tuple[dict, bytes]:
    length = int(response.headers[HEADER])
    return orjson.loads(response.content[:length]), response.content[length:]


@pytest.mark.parametrize(
    ("datatype", "dtype"),
    [("FP32", np.float32), ("FP64", np.float64), ("INT32", np.int32), ("FP16", np.float16)],
)
def test_binary_inputs_answer_as_json_does(iris_server, iris_bundle, datatype, dtype):
    url, _ = iris_server
    rows = iris_bundle.X[::7].astype(dtype)
    tensor, raw = binary_input("input-0", rows, datatype)
    body, headers = binary_request({"inputs": [tensor]}, raw)
    response = httpx.post(f"{url}/v2/models/iris/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert HEADER.lower() not in response.headers  # no binary output asked for: plain JSON
    expected = iris_bundle.estimator.predict(rows.astype(np.float64)).tolist()
    assert response.json()["outputs"][0]["data"] == expected


def test_binary_outputs_per_output_and_for_all(iris_server, iris_bundle):
    url, _ = iris_server
    rows = iris_bundle.X[10:40]
    tensor, raw = binary_input("input-0", rows, "FP64")
    body, headers = binary_request(
        {
            "id": "b1",
            "inputs": [tensor],
            "outputs": [
                {"name": "predict", "parameters": {"binary_data": True}},
                {"name": "predict_proba", "parameters": {"binary_data": False}},
            ],
        },
        raw,
    )
    response = httpx.post(f"{url}/v2/models/iris/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    header, payload = split_response(response)
    predict, proba = header["outputs"]
    assert header["id"] == "b1"
    assert predict["parameters"] == {"binary_data_size": len(payload)} and "data" not in predict
    assert np.frombuffer(payload, "<i8").tolist() == iris_bundle.estimator.predict(rows).tolist()
    assert np.allclose(proba["data"], iris_bundle.estimator.predict_proba(rows).reshape(-1))

    # A JSON request may ask for binary outputs too (binary_data_output: every output).
    json_body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": [2, 4],
                "datatype": "FP64",
                "data": rows[:2].reshape(-1).tolist(),
            }
        ],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
        "parameters": {"binary_data_output": True},
    }
    response = httpx.post(f"{url}/v2/models/iris/infer", json=json_body)
    header, payload = split_response(response)
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    assert sizes == [2 * 8, 2 * 3 * 8] and len(payload) == sum(sizes)
    assert np.allclose(
        np.frombuffer(payload[16:], "<f8"),
        iris_bundle.estimator.predict_proba(rows[:2]).reshape(-1),
    )


def test_binary_per_feature_inputs_mixed_with_json(iris_server, iris_bundle):
    url, _ = iris_server
    rows = iris_bundle.X[:9]
    names = iris_bundle.metadata.features.names
    tensors, blobs = [], []
    for column, name in enumerate(names):
        if column % 2:
            tensors.append(
                {"name": name, "shape": [9], "datatype": "FP64", "data": rows[:, column].tolist()}
            )
        else:
            tensor, raw = binary_input(name, rows[:, column].astype(np.float32), "FP32")
            tensors.append(tensor)
            blobs.append(raw)
    body, headers = binary_request({"inputs": tensors}, *blobs)
    response = httpx.post(f"{url}/v2/models/iris/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    expected = iris_bundle.estimator.predict(
        np.column_stack(
            [rows[:, c].astype(np.float32) if c % 2 == 0 else rows[:, c] for c in range(4)]
        ).astype(np.float64)
    )
    assert response.json()["outputs"][0]["data"] == expected.tolist()


def bad(name: str, rows: np.ndarray, **change):
    tensor, raw = binary_input(name, rows, "FP32")
    tensor.update(change.pop("tensor", {}))
    return tensor, change.get("raw", raw)


FOUR = np.ones((2, 4), dtype=np.float32)
CASES = {
    "size-larger-than-the-payload": (
        lambda: binary_request(
            {"inputs": [bad("x", FOUR, tensor={"parameters": {"binary_data_size": 64}})[0]]},
            bad("x", FOUR)[1],
        ),
        400,
        "'x'",
    ),
    "size-smaller-than-the-payload": (
        lambda: binary_request(
            {"inputs": [bad("x", FOUR, tensor={"parameters": {"binary_data_size": 16}})[0]]},
            bad("x", FOUR)[1],
        ),
        400,
        "add up",
    ),
    "size-not-the-shape's-bytes": (
        lambda: binary_request(
            {"inputs": [bad("x", FOUR, tensor={"shape": [2, 3]})[0]]}, bad("x", FOUR)[1]
        ),
        400,
        "'x'",
    ),
    "size-not-an-integer": (
        lambda: binary_request(
            {"inputs": [bad("x", FOUR, tensor={"parameters": {"binary_data_size": "32"}})[0]]},
            bad("x", FOUR)[1],
        ),
        400,
        "'x'",
    ),
    "nan-in-a-float-tensor": (
        lambda: binary_request(
            {"inputs": [bad("x", np.array([[1, 2, np.nan, 4]], "f4"))[0]]},
            bad("x", np.array([[1, 2, np.nan, 4]], "f4"))[1],
        ),
        400,
        "finite",
    ),
    "inf-in-a-float-tensor": (
        lambda: binary_request(
            {"inputs": [bad("x", np.array([[1, np.inf, 3, 4]], "f4"))[0]]},
            bad("x", np.array([[1, np.inf, 3, 4]], "f4"))[1],
        ),
        400,
        "finite",
    ),
    "wrong-feature-count": (
        lambda: binary_request(
            {"inputs": [bad("x", np.ones((2, 3), "f4"))[0]]}, bad("x", np.ones((2, 3), "f4"))[1]
        ),
        400,
        "'x'",
    ),
    "bytes-for-numeric-features": (
        lambda: binary_request(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, 4],
                        "datatype": "BYTES",
                        "parameters": {"binary_data_size": 20},
                    }
                ]
            },
            b"".join(struct.pack("<I", 1) + b"1" for _ in range(4)),
        ),
        400,
        "BYTES",
    ),
    "header-longer-than-body": (lambda: (b'{"inputs": []}', {HEADER: "999"}), 400, HEADER.lower()),
    "header-not-a-number": (lambda: (b'{"inputs": []}', {HEADER: "twelve"}), 400, HEADER.lower()),
    "both-data-and-binary": (
        lambda: binary_request(
            {"inputs": [bad("x", FOUR, tensor={"data": [1] * 8})[0]]}, bad("x", FOUR)[1]
        ),
        400,
        "both",
    ),
    "binary-data-flag-not-boolean": (
        lambda: binary_request(
            {"inputs": [bad("x", FOUR)[0]], "parameters": {"binary_data_output": "yes"}},
            bad("x", FOUR)[1],
        ),
        400,
        "binary_data_output",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_binary_requests_are_4xx_naming_the_problem(iris_server, case):
    url, _ = iris_server
    build, status, needle = CASES[case]
    body, headers = build()
    response = httpx.post(f"{url}/v2/models/iris/infer", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]


def test_bytes_tensors_use_length_prefixes(iris_server, iris_bundle):
    """BYTES elements, binary: each a 4-byte little-endian length, then the bytes."""
    url, _ = iris_server
    row = iris_bundle.X[0]
    tensors, blobs = [], []
    for name, value in zip(iris_bundle.metadata.features.names, row.tolist(), strict=True):
        data = str(value).encode()
        blob = struct.pack("<I", len(data)) + data
        tensors.append(
            {
                "name": name,
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(blob)},
            }
        )
        blobs.append(blob)
    body, headers = binary_request({"inputs": tensors}, *blobs)
    response = httpx.post(f"{url}/v2/models/iris/infer", content=body, headers=headers)
    # The features are numeric: a BYTES input is refused, naming it, never a 5xx.
    assert response.status_code == 400
    assert "sepal_length" in response.json()["error"]
    truncated = blobs[0][:-1]
    body, headers = binary_request(
        {"inputs": [{**tensors[0], "parameters": {"binary_data_size": len(truncated)}}]}, truncated
    )
    response = httpx.post(f"{url}/v2/models/iris/infer", content=body, headers=headers)
    assert response.status_code == 400 and "sepal_length" in response.json()["error"]
