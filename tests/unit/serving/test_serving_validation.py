"""Each bad input answers a 4xx whose JSON says what and where; the next request is served."""

from __future__ import annotations

import httpx
import pytest

GOOD_ROW = [5.1, 3.5, 1.4, 0.2]


def v2(data, *, shape=None, datatype="FP64", **extra):
    tensor = {"name": "x", "shape": shape or [1, 4], "datatype": datatype, "data": data}
    return {"inputs": [tensor], **extra}


# (id, protocol, body: json value or raw bytes, status, error type, expected fields, text in
# the message)
CASES = [
    (
        "wrong-feature-count",
        "v1",
        {"instances": [GOOD_ROW, [1.0, 2.0, 3.0]]},
        400,
        "invalid_input",
        {"row": 1},
        "has 3 values; the model expects 4",
    ),
    (
        "string-value",
        "v1",
        {"instances": [GOOD_ROW, [1.0, 2.0, "3.0", 4.0]]},
        400,
        "invalid_input",
        {"row": 1, "column": 2, "feature": "petal_length"},
        "expected a number",
    ),
    (
        "boolean-value",
        "v1",
        {"instances": [[True, 2.0, 3.0, 4.0]]},
        400,
        "invalid_input",
        {"row": 0, "column": 0},
        "got boolean",
    ),
    (
        "null-value",
        "v1",
        {"instances": [[1.0, None, 3.0, 4.0]]},
        400,
        "invalid_input",
        {"row": 0, "column": 1},
        "got null",
    ),
    (
        "nan-literal",
        "v1",
        b'{"instances": [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, NaN, 4.0]]}',
        400,
        "invalid_input",
        {"row": 1, "column": 2},
        "not a finite number",
    ),
    (
        "infinity-literal",
        "v1",
        b'{"instances": [[-Infinity, 2.0, 3.0, 4.0]]}',
        400,
        "invalid_input",
        {"row": 0, "column": 0},
        "not a finite number",
    ),
    (
        "overflowing-number",
        "v1",
        b'{"instances": [[1.0, 2.0, 3.0, 1e999]]}',
        400,
        "invalid_input",
        {"row": 0, "column": 3},
        "not a finite number",
    ),
    (
        "huge-integer",
        "v1",
        b'{"instances": [[1.0, 2.0, 3.0, ' + b"9" * 400 + b"]]}",
        400,
        "invalid_input",
        {"row": 0, "column": 3},
        "out of range",
    ),
    (
        "row-not-a-list",
        "v1",
        {"instances": [GOOD_ROW, 7]},
        400,
        "invalid_input",
        {"row": 1},
        "must be a list",
    ),
    (
        "missing-named-feature",
        "v1",
        {"instances": [{"sepal_length": 1, "sepal_width": 2, "petal_length": 3}]},
        400,
        "invalid_input",
        {"row": 0, "column": 3, "feature": "petal_width"},
        "missing feature",
    ),
    ("empty-batch", "v1", {"instances": []}, 400, "invalid_input", {}, "empty batch"),
    (
        "too-many-rows",
        "v1",
        {"instances": [GOOD_ROW] * 65},
        413,
        "payload_too_large",
        {},
        "at most 64",
    ),
    (
        "body-too-large",
        "v1",
        b'{"instances": [' + b"[1.0,2.0,3.0,4.0]," * 5000 + b"[1,2,3,4]]}",
        413,
        "payload_too_large",
        {},
        "--max-body-bytes",
    ),
    (
        "malformed-json",
        "v1",
        b'{"instances": [[1.0, 2.0',
        400,
        "malformed_request",
        {},
        "not valid JSON",
    ),
    ("empty-body", "v1", b"", 400, "malformed_request", {}, "empty"),
    ("not-an-object", "v1", b"[1, 2, 3]", 400, "malformed_request", {}, "JSON object"),
    ("missing-instances", "v1", {"inputs": []}, 400, "malformed_request", {}, "V2 format"),
    (
        "proba-flag-not-bool",
        "v1",
        {"instances": [GOOD_ROW], "parameters": {"predict_proba": 1}},
        400,
        "malformed_request",
        {},
        "predict_proba",
    ),
    (
        "v2-wrong-datatype",
        "v2",
        v2([1.0, 2.0, "x", 4.0]),
        400,
        "invalid_input",
        {"row": 0, "column": 2},
        "is FP64 but element 2",
    ),
    (
        "v2-float-in-int-tensor",
        "v2",
        v2([1, 2, 3.5, 4], datatype="INT32"),
        400,
        "invalid_input",
        {"row": 0, "column": 2},
        "is INT32",
    ),
    (
        "v2-int32-overflow",
        "v2",
        v2([1, 2, 3, 2**40], datatype="INT32"),
        400,
        "invalid_input",
        {},
        "does not fit INT32",
    ),
    (
        "v2-fp32-overflow",
        "v2",
        v2([1.0, 2.0, 3.0, 1e39], datatype="FP32"),
        400,
        "invalid_input",
        {"row": 0, "column": 3},
        "not a finite number",
    ),
    (
        "v2-shape-mismatch",
        "v2",
        v2([1.0, 2.0, 3.0], shape=[1, 4]),
        400,
        "invalid_input",
        {},
        "needs 4 elements",
    ),
    (
        "v2-wrong-feature-count",
        "v2",
        v2([1.0, 2.0, 3.0], shape=[1, 3]),
        400,
        "invalid_input",
        {},
        "the model expects 4",
    ),
    (
        "v2-unknown-datatype",
        "v2",
        v2(GOOD_ROW, datatype="FP128"),
        400,
        "malformed_request",
        {},
        "unsupported",
    ),
    (
        "v2-bytes-for-numeric",
        "v2",
        v2(["a", "b", "c", "d"], datatype="BYTES"),
        400,
        "invalid_input",
        {},
        "BYTES",
    ),
    ("v2-bad-shape", "v2", v2(GOOD_ROW, shape=[1, -4]), 400, "malformed_request", {}, "shape"),
    ("v2-empty-batch", "v2", v2([], shape=[0, 4]), 400, "invalid_input", {}, "empty batch"),
    (
        "v2-unknown-output",
        "v2",
        v2(GOOD_ROW, outputs=[{"name": "explain"}]),
        400,
        "invalid_input",
        {},
        "unknown output",
    ),
    (
        "v2-missing-feature-input",
        "v2",
        {
            "inputs": [
                {"name": n, "shape": [1], "datatype": "FP64", "data": [1.0]}
                for n in ("sepal_length", "sepal_width", "petal_length")
            ]
        },
        400,
        "invalid_input",
        {"column": 3, "feature": "petal_width"},
        "missing input",
    ),
    ("v2-no-inputs", "v2", {"instances": [GOOD_ROW]}, 400, "malformed_request", {}, "V1 format"),
    (
        "v2-too-many-rows",
        "v2",
        v2(GOOD_ROW * 65, shape=[65, 4]),
        413,
        "payload_too_large",
        {},
        "at most 64",
    ),
]


@pytest.mark.parametrize(
    ("protocol", "body", "status", "kind", "fields", "text"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_input_is_a_helpful_4xx_and_the_next_request_succeeds(
    iris_server, iris_bundle, protocol, body, status, kind, fields, text
):
    url, _ = iris_server
    path = "/v1/models/iris:predict" if protocol == "v1" else "/v2/models/iris/infer"
    if isinstance(body, bytes):
        response = httpx.post(
            f"{url}{path}", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = httpx.post(f"{url}{path}", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert error["type"] == kind
    assert text in error["error"]
    for key, value in fields.items():
        assert error[key] == value, error

    good = (
        httpx.post(f"{url}/v1/models/iris:predict", json={"instances": [GOOD_ROW]})
        if protocol == "v1"
        else httpx.post(f"{url}{path}", json=v2(GOOD_ROW))
    )
    assert good.status_code == 200, good.text


def test_unknown_model_name_is_404(iris_server):
    url, _ = iris_server
    for method, path in [
        ("POST", "/v1/models/cats:predict"),
        ("POST", "/v2/models/cats/infer"),
        ("GET", "/v2/models/cats"),
        ("GET", "/v2/models/cats/ready"),
        ("GET", "/v1/models/cats"),
    ]:
        response = httpx.request(method, f"{url}{path}", json={"instances": [GOOD_ROW]})
        assert response.status_code == 404, path
        assert "cats" in response.json()["error"]
        assert "iris" in response.json()["error"]


def test_body_over_limit_without_content_length_is_413(iris_server):
    url, _ = iris_server

    def chunks():
        yield b'{"instances": ['
        for _ in range(5000):
            yield b"[1.0,2.0,3.0,4.0],"
        yield b"[1,2,3,4]]}"

    response = httpx.post(f"{url}/v1/models/iris:predict", content=chunks())
    assert response.status_code == 413
    assert response.json()["type"] == "payload_too_large"


def test_proba_for_a_regressor_is_400(regression_server):
    url, _ = regression_server
    body = {
        "inputs": [{"name": "x", "shape": [1, 6], "datatype": "FP64", "data": [0.0] * 6}],
        "outputs": [{"name": "predict_proba"}],
    }
    response = httpx.post(f"{url}/v2/models/house/infer", json=body)
    assert response.status_code == 400
    assert "predict_proba" in response.json()["error"]


@pytest.fixture(scope="module")
def mixed_server(tmp_path_factory):
    """A model with a string feature beside a numeric one: its V2 tensors are object-dtype."""
    import datetime

    import numpy as np
    from serving_helpers import running
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from modelpilot.api.bundle import (
        BundleMetadata,
        FeatureSchema,
        running_versions,
        write_bundle,
    )
    from modelpilot.serving.settings import Settings

    X = np.array([["red", 1.0], ["blue", 2.0], ["red", 3.0], ["blue", 4.0]], dtype=object)
    model = make_pipeline(
        ColumnTransformer([("color", OneHotEncoder(), [0])], remainder="passthrough"),
        LogisticRegression(),
    ).fit(X, [0, 1, 0, 1])
    metadata = BundleMetadata(
        name="paint",
        namespace="ml",
        revision="v1",
        task="classification",
        created_at=datetime.datetime.now(datetime.UTC).isoformat(),
        estimator="sklearn.pipeline.Pipeline",
        classes=[0, 1],
        features=FeatureSchema(names=["color", "size"], dtypes=["object", "float64"]),
        training_data_sha256="0" * 64,
        holdout_sha256="0" * 64,
        metrics={},
        versions=running_versions(),
    )
    path = tmp_path_factory.mktemp("mixed") / "paint" / "v1"
    written = write_bundle(model, metadata, path)
    settings = Settings(
        model_dir=str(path),
        model_name="paint",
        expected_sha256=written.model_sha256,
        drain_seconds=0.0,
    )
    with running(settings) as served:
        yield served


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_non_finite_numbers_beside_string_features_are_a_400(mixed_server, protocol, literal):
    url, _ = mixed_server
    if protocol == "v1":
        path, body = "/v1/models/paint:predict", b'{"instances": [["red", ' + literal + b"]]}"
    else:
        path = "/v2/models/paint/infer"
        body = (
            b'{"inputs": [{"name": "color", "shape": [1], "datatype": "BYTES", '
            b'"data": ["red"]}, {"name": "size", "shape": [1], "datatype": "FP64", '
            b'"data": [' + literal + b"]}]}"
        )
    response = httpx.post(
        f"{url}{path}", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["type"] == "invalid_input" and "not a finite number" in error["error"]
    assert (error["row"], error["column"], error["feature"]) == (0, 1, "size")
    good = body.replace(literal, b"2.5")
    ok = httpx.post(f"{url}{path}", content=good, headers={"content-type": "application/json"})
    assert ok.status_code == 200, ok.text
