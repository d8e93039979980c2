"""V1 and V2 answer exactly what the model answers, with version headers on every response."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from modelpilot.api.names import HEADER_MODEL_SHA256, HEADER_MODEL_VERSION


def test_v1_predictions_equal_model_predict(iris_server, iris_bundle):
    url, _ = iris_server
    rows = iris_bundle.X[::3]
    response = httpx.post(f"{url}/v1/models/iris:predict", json={"instances": rows.tolist()})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": iris_bundle.estimator.predict(rows).tolist()}


def test_v1_accepts_rows_keyed_by_feature_name(iris_server, iris_bundle):
    url, _ = iris_server
    names = iris_bundle.metadata.features.names
    rows = iris_bundle.X[:5]
    instances = [dict(zip(reversed(names), reversed(row.tolist()), strict=True)) for row in rows]
    response = httpx.post(f"{url}/v1/models/iris:predict", json={"instances": instances})
    assert response.json()["predictions"] == iris_bundle.estimator.predict(rows).tolist()


def test_v1_predict_proba_on_request(iris_server, iris_bundle):
    url, _ = iris_server
    rows = iris_bundle.X[40:60]
    body = {"instances": rows.tolist(), "parameters": {"predict_proba": True}}
    answer = httpx.post(f"{url}/v1/models/iris:predict", json=body).json()
    assert answer["predictions"] == iris_bundle.estimator.predict(rows).tolist()
    assert answer["probabilities"] == iris_bundle.estimator.predict_proba(rows).tolist()


@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_v2_predict_and_proba_equal_the_model(iris_server, iris_bundle, datatype):
    url, _ = iris_server
    rows = iris_bundle.X[::5]
    sent = rows.astype(np.float32) if datatype == "FP32" else rows
    body = {
        "id": "req-1",
        "inputs": [
            {
                "name": "input-0",
                "shape": list(rows.shape),
                "datatype": datatype,
                "data": sent.reshape(-1).tolist(),
            }
        ],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    response = httpx.post(f"{url}/v2/models/iris/infer", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_name"] == "iris"
    assert answer["model_version"] == "v1"
    assert answer["id"] == "req-1"
    predict, proba = answer["outputs"]
    model_input = sent.astype(np.float64)
    assert predict == {
        "name": "predict",
        "shape": [len(rows)],
        "datatype": "INT64",
        "data": iris_bundle.estimator.predict(model_input).tolist(),
    }
    expected_proba = iris_bundle.estimator.predict_proba(model_input)
    assert proba["shape"] == list(expected_proba.shape)
    assert proba["datatype"] == "FP64"
    assert proba["data"] == expected_proba.reshape(-1).tolist()


def test_v2_nested_data_and_int_tensors(iris_server, iris_bundle):
    url, _ = iris_server
    rows = np.array([[5, 3, 1, 0], [7, 3, 5, 2]], dtype=np.int64)
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "INT64", "data": rows.tolist()}]}
    answer = httpx.post(f"{url}/v2/models/iris/infer", json=body).json()
    assert (
        answer["outputs"][0]["data"]
        == iris_bundle.estimator.predict(rows.astype(np.float64)).tolist()
    )


def test_v2_one_tensor_per_feature(iris_server, iris_bundle):
    url, _ = iris_server
    rows = iris_bundle.X[100:110]
    names = iris_bundle.metadata.features.names
    inputs = [
        {"name": n, "shape": [len(rows)], "datatype": "FP64", "data": rows[:, i].tolist()}
        for i, n in reversed(list(enumerate(names)))
    ]
    answer = httpx.post(f"{url}/v2/models/iris/infer", json={"inputs": inputs}).json()
    assert answer["outputs"][0]["data"] == iris_bundle.estimator.predict(rows).tolist()


def test_v2_versioned_infer_route(iris_server, iris_bundle):
    url, _ = iris_server
    body = {
        "inputs": [
            {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": iris_bundle.X[0].tolist()}
        ]
    }
    assert httpx.post(f"{url}/v2/models/iris/versions/v1/infer", json=body).status_code == 200
    assert httpx.post(f"{url}/v2/models/iris/versions/v9/infer", json=body).status_code == 404


def test_regression_predictions_are_exact(regression_server, regression_bundle):
    url, _ = regression_server
    rows = regression_bundle.X[:50]
    v1 = httpx.post(f"{url}/v1/models/house:predict", json={"instances": rows.tolist()}).json()
    expected = regression_bundle.estimator.predict(rows).tolist()
    assert v1["predictions"] == expected
    body = {
        "inputs": [
            {
                "name": "x",
                "shape": list(rows.shape),
                "datatype": "FP64",
                "data": rows.reshape(-1).tolist(),
            }
        ]
    }
    v2 = httpx.post(f"{url}/v2/models/house/infer", json=body).json()
    assert v2["outputs"][0]["datatype"] == "FP64"
    assert v2["outputs"][0]["data"] == expected


def test_health_and_metadata_routes(iris_server, iris_bundle):
    url, _ = iris_server
    assert httpx.get(f"{url}/v2/health/live").status_code == 200
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{url}/v2/models/iris/ready").status_code == 200
    assert httpx.get(f"{url}/v1/models/iris").json() == {"name": "iris", "ready": True}
    assert httpx.get(f"{url}/v1/models").json() == {"models": ["iris"]}
    assert httpx.get(f"{url}/v2").json()["name"] == "modelpilot"
    metadata = httpx.get(f"{url}/v2/models/iris").json()
    assert metadata["name"] == "iris"
    assert metadata["versions"] == ["v1"]
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert [o["name"] for o in metadata["outputs"]] == ["predict", "predict_proba"]
    assert metadata["parameters"]["features"] == iris_bundle.metadata.features.names
    assert metadata["parameters"]["classes"] == [0, 1, 2]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v2/health/ready", None),
        ("GET", "/v2/health/live", None),
        ("GET", "/metrics", None),
        ("POST", "/v1/models/iris:predict", {"instances": [[5.0, 3.0, 1.0, 0.2]]}),
        ("POST", "/v1/models/iris:predict", {"instances": []}),
        ("POST", "/v1/models/nope:predict", {"instances": [[5.0, 3.0, 1.0, 0.2]]}),
        ("GET", "/no/such/route", None),
    ],
    ids=["ready", "live", "metrics", "predict", "client-error", "unknown-model", "no-route"],
)
def test_every_response_names_version_and_digest(iris_server, iris_bundle, method, path, body):
    url, _ = iris_server
    response = httpx.request(method, f"{url}{path}", json=body)
    assert response.headers[HEADER_MODEL_VERSION] == "v1"
    assert response.headers[HEADER_MODEL_SHA256] == iris_bundle.sha256


def test_model_version_setting_overrides_the_bundle_revision(iris_bundle):
    from serving_helpers import running

    with running(iris_bundle.settings(model_version="v7")) as (url, _):
        response = httpx.get(f"{url}/v2/health/ready")
        assert response.headers[HEADER_MODEL_VERSION] == "v7"
        assert httpx.get(f"{url}/v2/models/iris").json()["versions"] == ["v7"]


def test_openapi_documents_the_request_bodies(iris_bundle):
    from serving_helpers import running

    with running(iris_bundle.settings(enable_docs=True)) as (url, _):
        paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    v1_body = paths["/v1/models/{name}:predict"]["post"]["requestBody"]
    assert v1_body["content"]["application/json"]["schema"]["required"] == ["instances"]
    v2_body = paths["/v2/models/{name}/infer"]["post"]["requestBody"]
    assert v2_body["content"]["application/json"]["schema"]["required"] == ["inputs"]


def test_string_class_labels_travel_as_strings_and_bytes(tmp_path):
    from serving_helpers import make_bundle, running
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = LogisticRegression(max_iter=500).fit(X, labels)
    bundle = make_bundle(tmp_path, model, X, name="flowers", task="classification")
    rows = X[::25]
    with running(bundle.settings()) as (url, _):
        v1 = httpx.post(f"{url}/v1/models/flowers:predict", json={"instances": rows.tolist()})
        assert v1.json()["predictions"] == model.predict(rows).tolist()
        body = {
            "inputs": [
                {
                    "name": "x",
                    "shape": list(rows.shape),
                    "datatype": "FP64",
                    "data": rows.reshape(-1).tolist(),
                }
            ],
            "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
        }
        predict, proba = httpx.post(f"{url}/v2/models/flowers/infer", json=body).json()["outputs"]
        assert predict["datatype"] == "BYTES"
        assert predict["data"] == model.predict(rows).tolist()
        assert proba["data"] == model.predict_proba(rows).reshape(-1).tolist()
        metadata = httpx.get(f"{url}/v2/models/flowers").json()
        assert metadata["outputs"][0]["datatype"] == "BYTES"
        assert metadata["parameters"]["classes"] == ["setosa", "versicolor", "virginica"]
        assert 'class="virginica"' in httpx.get(f"{url}/metrics").text
