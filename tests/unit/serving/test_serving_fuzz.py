"""Hypothesis-generated bodies, from noise to almost-valid tensors: never a 5xx.

Runs against the real server (uvicorn, httptools) so the HTTP layer is fuzzed too.
"""

from __future__ import annotations

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpilot.serving.v2 import DATATYPES

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)
rows = st.lists(st.lists(scalars | st.floats(-10, 10), min_size=0, max_size=6),
                min_size=0, max_size=8)
v1_bodies = st.fixed_dictionaries(
    {"instances": rows | json_values},
    optional={"parameters": st.fixed_dictionaries({}, optional={
        "predict_proba": st.booleans() | scalars})},
)
tensors = st.fixed_dictionaries({
    "name": st.sampled_from(["x", "sepal_length", "petal_width"]) | st.text(max_size=4),
    "shape": st.lists(st.integers(-1, 70), min_size=0, max_size=3),
    "datatype": st.sampled_from([*DATATYPES, "FP128", ""]),
    "data": st.lists(scalars | st.floats(-10, 10) | st.lists(st.floats(-10, 10), max_size=4),
                     max_size=12),
})
v2_bodies = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=5) | json_values},
    optional={
        "id": st.text(max_size=5) | scalars,
        "outputs": st.lists(st.fixed_dictionaries(
            {"name": st.sampled_from(["predict", "predict_proba", "other"])}), max_size=3)
        | json_values,
    },
)


def encode(body) -> bytes:
    # NaN/Infinity literals and huge integers, as Python's json module would write them.
    import json

    return json.dumps(body).encode()


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


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
@given(raw=st.binary(max_size=200), path=st.sampled_from(
    ["/v1/models/iris:predict", "/v2/models/iris/infer", "/v2/models/iris/versions/v1/infer"]))
def test_raw_bytes_never_answer_5xx(client, raw, path):
    check(client.post(path, content=raw))


binary_tensors = st.fixed_dictionaries({
    "name": st.sampled_from(["x", "sepal_length", "petal_width"]),
    "shape": st.lists(st.integers(-1, 6), min_size=0, max_size=3),
    "datatype": st.sampled_from([*DATATYPES, "FP128"]),
    "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-2, 80) | scalars}),
})
binary_headers = st.fixed_dictionaries(
    {"inputs": st.lists(binary_tensors | tensors, min_size=1, max_size=4)},
    optional={"outputs": st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["predict", "predict_proba"]),
         "parameters": st.fixed_dictionaries({"binary_data": st.booleans() | scalars})}),
        max_size=2),
        "parameters": st.fixed_dictionaries({"binary_data_output": st.booleans() | scalars})},
)


@FUZZ
@given(header=binary_headers, payload=st.binary(max_size=96) | st.builds(
    lambda rows: rows.tobytes(), st.lists(st.floats(width=32), min_size=4, max_size=16).map(
        lambda v: __import__("numpy").asarray(v, dtype="<f4"))),
    length_delta=st.sampled_from([0, 0, 0, -1, 1, 10**6])
    | st.text(alphabet="0123456789-x+", min_size=1, max_size=3))
def test_binary_bodies_never_answer_5xx(client, header, payload, length_delta):
    text = encode(header)
    length = (str(len(text) + length_delta) if isinstance(length_delta, int)
              else length_delta)
    check(client.post("/v2/models/iris/infer", content=text + payload,
                      headers={"Inference-Header-Content-Length": length}))
