"""Hypothesis-generated bodies, from noise to almost-valid tensors: never a 5xx.

Runs against the real server (uvicorn, httptools) so the HTTP layer is fuzzed too.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_helpers import free_socket, running

from modelpilot.serving.oip import open_inference_pb2 as pb
from modelpilot.serving.oip import open_inference_pb2_grpc as pb_grpc
from modelpilot.serving.v2 import DATATYPES

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)
rows = st.lists(
    st.lists(scalars | st.floats(-10, 10), min_size=0, max_size=6), min_size=0, max_size=8
)
v1_bodies = st.fixed_dictionaries(
    {"instances": rows | json_values},
    optional={
        "parameters": st.fixed_dictionaries({}, optional={"predict_proba": st.booleans() | scalars})
    },
)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["x", "sepal_length", "petal_width"]) | st.text(max_size=4),
        "shape": st.lists(st.integers(-1, 70), min_size=0, max_size=3),
        "datatype": st.sampled_from([*DATATYPES, "FP128", ""]),
        "data": st.lists(
            scalars | st.floats(-10, 10) | st.lists(st.floats(-10, 10), max_size=4), max_size=12
        ),
    }
)
v2_bodies = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=5) | json_values},
    optional={
        "id": st.text(max_size=5) | scalars,
        "outputs": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["predict", "predict_proba", "other"])}),
            max_size=3,
        )
        | json_values,
    },
)


def encode(body) -> bytes:
    # NaN/Infinity literals and huge integers, as Python's json module would write them.
    import json

    return json.dumps(body).encode()


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert "error" in orjson.loads(response.content)


@pytest.fixture(scope="module")
def client(iris_server):
    url, _ = iris_server
    with httpx.Client(base_url=url, timeout=30) as client:
        yield client


@FUZZ
@given(body=v1_bodies | json_values)
def test_v1_never_answers_5xx(client, body):
    check(client.post("/v1/models/iris:predict", content=encode(body)))


@FUZZ
@given(body=v2_bodies | json_values)
def test_v2_never_answers_5xx(client, body):
    check(client.post("/v2/models/iris/infer", content=encode(body)))


@FUZZ
@given(
    raw=st.binary(max_size=200),
    path=st.sampled_from(
        ["/v1/models/iris:predict", "/v2/models/iris/infer", "/v2/models/iris/versions/v1/infer"]
    ),
)
def test_raw_bytes_never_answer_5xx(client, raw, path):
    check(client.post(path, content=raw))


binary_tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["x", "sepal_length", "petal_width"]),
        "shape": st.lists(st.integers(-1, 6), min_size=0, max_size=3),
        "datatype": st.sampled_from([*DATATYPES, "FP128"]),
        "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-2, 80) | scalars}),
    }
)
binary_headers = st.fixed_dictionaries(
    {"inputs": st.lists(binary_tensors | tensors, min_size=1, max_size=4)},
    optional={
        "outputs": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["predict", "predict_proba"]),
                    "parameters": st.fixed_dictionaries({"binary_data": st.booleans() | scalars}),
                }
            ),
            max_size=2,
        ),
        "parameters": st.fixed_dictionaries({"binary_data_output": st.booleans() | scalars}),
    },
)


@FUZZ
@given(
    header=binary_headers,
    payload=st.binary(max_size=96)
    | st.builds(
        lambda rows: rows.tobytes(),
        st.lists(st.floats(width=32), min_size=4, max_size=16).map(
            lambda v: __import__("numpy").asarray(v, dtype="<f4")
        ),
    ),
    length_delta=st.sampled_from([0, 0, 0, -1, 1, 10**6])
    | st.text(alphabet="0123456789-x+", min_size=1, max_size=3),
)
def test_binary_bodies_never_answer_5xx(client, header, payload, length_delta):
    text = encode(header)
    length = str(len(text) + length_delta) if isinstance(length_delta, int) else length_delta
    check(
        client.post(
            "/v2/models/iris/infer",
            content=text + payload,
            headers={"Inference-Header-Content-Length": length},
        )
    )


# -- schema-aware fuzzing: three kinds of model, four protocols, >= 10,000 requests a run ----
#
# Issue 21 §2: canary analysis counts 5xx against the candidate, so any input that makes one
# lets a client abort any canary. Bodies here are *almost* valid for each model (the right
# feature names, per-feature tensors, one BYTES tensor of text, rows as lists and objects),
# with values drawn from what breaks pipelines: text in number columns, numbers where a
# category belongs, "nan"/"inf" as text, null, NaN, ±Inf, huge integers, unknown
# categories, bools, wrong shapes and sizes. Budget: FUZZ_EXAMPLES examples per test, 16
# tests; test_fuzz_tally checks the count and that the whole run stayed within
# FUZZ_BUDGET_S.

FUZZ_MODELS = ("iris", "mixed", "missing", "regression")
FUZZ_PROTOCOLS = ("v1", "v2-json", "v2-binary", "grpc")
FUZZ_MIN_REQUESTS = 10_000
FUZZ_EXAMPLES = math.ceil(FUZZ_MIN_REQUESTS / (len(FUZZ_MODELS) * len(FUZZ_PROTOCOLS)))
FUZZ_BUDGET_S = 300.0  # the 16 tests together, on the 2-core CI machine under load
TALLY: dict[str, Any] = {"requests": 0, "5xx": 0, "tests": set(), "started": None}
SCHEMA = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
nasty = st.one_of(
    st.none(),
    st.booleans(),
    st.just(float("nan")),
    st.just(float("inf")),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(-1e6, 1e6),
    st.sampled_from(
        [
            "paris",
            "lyon",
            "tokyo",
            "",
            "abc",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "41.5",
            "3",
            "true",
            "false",
            "0",
            "1",
            " 7 ",
            "\x00",
            "é",
        ]
    ),
    st.text(max_size=4),
    st.lists(st.floats(-3, 3), max_size=2),
)


def features_of(model: str, tabular: dict[str, Any]) -> list[str]:
    return IRIS_FEATURES if model == "iris" else tabular[model].features


def v1_fuzz_body(names: list[str]) -> st.SearchStrategy[Any]:
    width = st.integers(max(0, len(names) - 1), len(names) + 1)
    as_list = width.flatmap(lambda n: st.lists(nasty, min_size=n, max_size=n))
    keys = st.sampled_from([*names, "other"])
    as_object = st.dictionaries(keys, nasty, min_size=len(names) - 1, max_size=len(names) + 1)
    rows = st.lists(as_list, min_size=1, max_size=4) | st.lists(as_object, min_size=1, max_size=4)
    return st.fixed_dictionaries(
        {"instances": rows},
        optional={"parameters": st.fixed_dictionaries({"predict_proba": st.booleans()})},
    )


def v2_fuzz_tensor(names: list[str]) -> st.SearchStrategy[Any]:
    def tensor(name: str, rows: int, wide: bool) -> st.SearchStrategy[Any]:
        shape = [rows, len(names)] if wide else [rows]
        return st.fixed_dictionaries(
            {
                "name": st.just(name),
                "shape": st.just(shape) | st.lists(st.integers(0, 5), min_size=1, max_size=3),
                "datatype": st.sampled_from(["BYTES", "FP64", "INT64", "BOOL", "FP32", "UINT8"]),
                "data": st.lists(nasty, min_size=math.prod(shape), max_size=math.prod(shape)),
            }
        )

    def inputs(rows: int) -> st.SearchStrategy[Any]:
        per_feature = st.permutations(names).flatmap(
            lambda order: st.tuples(*(tensor(n, rows, False) for n in order)).map(list)
        )
        wide = tensor("input-0", rows, True).map(lambda t: [t])
        return per_feature | wide | st.lists(tensor("x", rows, False), min_size=1, max_size=2)

    return st.integers(1, 3).flatmap(inputs).map(lambda i: {"inputs": i})


def raw_of(datatype: str, values: list[Any]) -> bytes:
    if datatype == "BYTES":
        parts = []
        for v in values:
            data = v if isinstance(v, bytes) else str(v).encode("utf-8", "surrogatepass")
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    dtype = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "BOOL": "u1"}[datatype]
    numbers = [v if isinstance(v, float | int) and not isinstance(v, bool) else 1 for v in values]
    if datatype != "FP64" and datatype != "FP32":
        numbers = [int(v) if math.isfinite(v) else 0 for v in numbers]
        numbers = [max(min(v, 2**62), -(2**62)) for v in numbers]
        if datatype == "BOOL":
            numbers = [abs(v) % 3 for v in numbers]  # 2 is not a BOOL byte
    with np.errstate(over="ignore", invalid="ignore"):  # FP32 overflow: inf, a case too
        return np.asarray(numbers).astype(dtype).tobytes()


def binary_fuzz_request(names: list[str]) -> st.SearchStrategy[Any]:
    """(header, payload) of per-feature (or one wide) binary tensors, sizes sometimes off."""
    value = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-5, 5),
        st.sampled_from(["paris", "tokyo", "abc", "nan", "3.5", ""]),
        st.binary(max_size=3),
    )

    def build(
        rows: int, datatypes: list[str], wide: bool, values: list[Any], skew: int
    ) -> tuple[dict[str, Any], bytes]:
        inputs, blobs = [], []
        specs = (
            [("input-0", datatypes[0], [rows, len(names)])]
            if wide
            else [(n, d, [rows]) for n, d in zip(names, datatypes, strict=False)]
        )
        for name, datatype, shape in specs:
            raw = raw_of(datatype, [values[i % len(values)] for i in range(math.prod(shape))])
            inputs.append(
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": shape,
                    "parameters": {"binary_data_size": len(raw) + skew},
                }
            )
            blobs.append(raw)
        return {"inputs": inputs}, b"".join(blobs)

    datatype = st.sampled_from(["BYTES", "FP64", "FP32", "INT64", "BOOL"])
    return st.builds(
        build,
        st.integers(1, 3),
        st.lists(datatype, min_size=len(names), max_size=len(names)),
        st.booleans(),
        st.lists(value, min_size=1, max_size=6),
        st.sampled_from([0, 0, 0, 0, -1, 1]),
    )


def grpc_fuzz_request(model: str, names: list[str]) -> st.SearchStrategy[Any]:
    fields = {
        "FP64": "fp64_contents",
        "INT64": "int64_contents",
        "BOOL": "bool_contents",
        "BYTES": "bytes_contents",
    }

    def build(rows: int, datatypes: list[str], values: list[Any], raw: bool) -> Any:
        request = pb.ModelInferRequest(model_name=model)
        for name, datatype in zip(names, datatypes, strict=False):
            tensor = request.inputs.add(name=name, datatype=datatype, shape=[rows])
            items = [values[i % len(values)] for i in range(rows)]
            if raw:
                request.raw_input_contents.append(raw_of(datatype, items))
                continue
            contents = getattr(tensor.contents, fields[datatype])
            if datatype == "BYTES":
                contents.extend(
                    str(v).encode("utf-8", "surrogatepass") if not isinstance(v, bytes) else v
                    for v in items
                )
            elif datatype == "BOOL":
                contents.extend(bool(v) for v in items)
            elif datatype == "INT64":
                contents.extend(int(v) if isinstance(v, int) else 1 for v in items)
            else:
                contents.extend(float(v) if isinstance(v, float | int) else 0.5 for v in items)
        return request

    value = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-5, 5),
        st.sampled_from(["paris", "tokyo", "abc", "nan", "3.5", ""]),
        st.binary(max_size=3),
    )
    return st.builds(
        build,
        st.integers(1, 3),
        st.lists(st.sampled_from(list(fields)), min_size=len(names) - 1, max_size=len(names)),
        st.lists(value, min_size=1, max_size=6),
        st.booleans(),
    )


@pytest.fixture(scope="module")
def fuzz_targets(iris_bundle, tabular_bundles) -> Iterator[dict[str, Any]]:
    from contextlib import ExitStack

    bundles = {"iris": iris_bundle, **{m: tabular_bundles[m] for m in FUZZ_MODELS[1:]}}
    with ExitStack() as stack:
        targets = {}
        for model, bundle in bundles.items():
            with free_socket() as sock:
                port = sock.getsockname()[1]
            url, app = stack.enter_context(running(bundle.settings(grpc_port=port)))
            http = stack.enter_context(httpx.Client(base_url=url, timeout=30))
            channel = stack.enter_context(grpc.insecure_channel(f"127.0.0.1:{app.state.grpc_port}"))
            targets[model] = (http, pb_grpc.GRPCInferenceServiceStub(channel))
        yield targets


def tally(status: int, detail: str) -> None:
    TALLY["requests"] += 1
    if status >= 500:
        TALLY["5xx"] += 1
    assert status < 500, detail


def fuzz_case(model: str, protocol: str) -> Any:
    @SCHEMA
    @given(data=st.data())
    def run(fuzz_targets, tabular_bundles, data):
        if TALLY["started"] is None:
            TALLY["started"] = time.monotonic()
        TALLY["tests"].add((model, protocol))
        http, stub = fuzz_targets[model]
        names = features_of(model, tabular_bundles)
        if protocol == "v1":
            body = data.draw(v1_fuzz_body(names))
            response = http.post(f"/v1/models/{model}:predict", content=encode(body))
            tally(response.status_code, response.text)
        elif protocol == "v2-json":
            body = data.draw(v2_fuzz_tensor(names))
            response = http.post(f"/v2/models/{model}/infer", content=encode(body))
            tally(response.status_code, response.text)
        elif protocol == "v2-binary":
            header, payload = data.draw(binary_fuzz_request(names))
            text = encode(header)
            response = http.post(
                f"/v2/models/{model}/infer",
                content=text + payload,
                headers={"Inference-Header-Content-Length": str(len(text))},
            )
            tally(response.status_code, response.text)
        else:
            request = data.draw(grpc_fuzz_request(model, names))
            try:
                stub.ModelInfer(request, timeout=30)
                tally(200, "")
            except grpc.RpcError as exc:
                server_side = exc.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
                tally(500 if server_side else 400, f"{exc.code()}: {exc.details()}")

    return run


for _model in FUZZ_MODELS:
    for _protocol in FUZZ_PROTOCOLS:
        globals()[f"test_fuzz_{_model}_{_protocol.replace('-', '_')}_never_answers_5xx"] = (
            fuzz_case(_model, _protocol)
        )


def test_fuzz_tally():
    """Runs last in this module: the count, the 5xx count and the time, for the report."""
    expected = {(m, p) for m in FUZZ_MODELS for p in FUZZ_PROTOCOLS}
    if TALLY["tests"] != expected:
        pytest.skip("only part of the fuzz suite ran")
    elapsed = time.monotonic() - TALLY["started"]
    print(f"fuzz: {TALLY['requests']} requests, {TALLY['5xx']} answered 5xx, {elapsed:.1f}s")
    assert TALLY["requests"] >= FUZZ_MIN_REQUESTS
    assert TALLY["5xx"] == 0
    assert elapsed < FUZZ_BUDGET_S
