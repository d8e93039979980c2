"""Models trained on users' tabular data serve on every protocol, and answer as the fitted
pipeline does: numeric only, numeric + categorical (+ bool), with missing values, and a
regressor read from Parquet; V1 rows as lists and as objects, V2 per-feature tensors and
one BYTES tensor (JSON), the binary extension and gRPC.

Each bundle comes from the trainer's own entrypoint on a CSV/Parquet file with
`spec.training.preprocessing` on named columns, as a user's would (issue 22 §1: every such
request used to be a 500, "Specifying the columns using strings is only supported for
dataframes"). Expected answers are the bundle's own pipeline predicting on a DataFrame.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from serving_helpers import free_socket, running
from tabular_helpers import Trained, shop_frame

from modelpilot.serving.oip import open_inference_pb2 as pb
from modelpilot.serving.oip import open_inference_pb2_grpc as pb_grpc

HEADER = "Inference-Header-Content-Length"


def free_port() -> int:
    with free_socket() as sock:
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def trained(tabular_bundles: dict[str, Trained]) -> dict[str, Trained]:
    return tabular_bundles


@pytest.fixture(scope="module")
def servers(trained: dict[str, Trained]) -> Iterator[dict[str, tuple[str, Any]]]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        out = {}
        for name, bundle in trained.items():
            url, app = stack.enter_context(running(bundle.settings(grpc_port=free_port())))
            channel = stack.enter_context(grpc.insecure_channel(f"127.0.0.1:{app.state.grpc_port}"))
            out[name] = (url, pb_grpc.GRPCInferenceServiceStub(channel))
        yield out


# -- one sender per protocol: rows (a DataFrame) in, (status, predictions or error) out ------


def jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return value


def v2_datatype(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "BOOL"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "INT64"
    if pd.api.types.is_float_dtype(series.dtype):
        return "FP64"
    return "BYTES"


def http_answer(response: httpx.Response) -> tuple[int, Any]:
    if response.status_code != 200:
        return response.status_code, response.json()["error"]
    if HEADER in response.headers:
        length = int(response.headers[HEADER])
        header = orjson.loads(response.content[:length])
        return 200, header["outputs"][0]["data"]
    body = response.json()
    if "predictions" in body:
        return 200, body["predictions"]
    return 200, body["outputs"][0]["data"]


def send_v1_lists(url: str, _: Any, bundle: Trained, rows: pd.DataFrame) -> tuple[int, Any]:
    instances = [
        [jsonable(v) for v in row] for row in rows[bundle.features].itertuples(index=False)
    ]
    return http_answer(
        httpx.post(f"{url}/v1/models/{bundle.name}:predict", json={"instances": instances})
    )


def send_v1_objects(url: str, _: Any, bundle: Trained, rows: pd.DataFrame) -> tuple[int, Any]:
    instances = [
        {k: jsonable(v) for k, v in row.items()}
        for row in rows[bundle.features].to_dict(orient="records")
    ]
    return http_answer(
        httpx.post(f"{url}/v1/models/{bundle.name}:predict", json={"instances": instances})
    )


def send_v2_columns(url: str, _: Any, bundle: Trained, rows: pd.DataFrame) -> tuple[int, Any]:
    inputs = [
        {
            "name": c,
            "datatype": v2_datatype(rows[c]),
            "shape": [len(rows)],
            "data": [jsonable(v) for v in rows[c].tolist()],
        }
        for c in bundle.features
    ]
    return http_answer(httpx.post(f"{url}/v2/models/{bundle.name}/infer", json={"inputs": inputs}))


def as_text(value: Any) -> Any:
    value = jsonable(value)
    return value if value is None or isinstance(value, str) else str(value).lower()


def send_v2_bytes(url: str, _: Any, bundle: Trained, rows: pd.DataFrame) -> tuple[int, Any]:
    """One [rows, features] BYTES tensor: every value as text, missing ones as null."""
    data = [[as_text(v) for v in row] for row in rows[bundle.features].itertuples(index=False)]
    inputs = [
        {
            "name": "input-0",
            "datatype": "BYTES",
            "shape": [len(rows), len(bundle.features)],
            "data": data,
        }
    ]
    return http_answer(httpx.post(f"{url}/v2/models/{bundle.name}/infer", json={"inputs": inputs}))


def raw_column(series: pd.Series) -> tuple[str, bytes]:
    datatype = v2_datatype(series)
    if datatype == "BYTES":
        return datatype, b"".join(
            struct.pack("<I", len(v.encode())) + v.encode() for v in series.tolist()
        )
    dtype = {"BOOL": "u1", "INT64": "<i8", "FP64": "<f8"}[datatype]
    return datatype, series.to_numpy().astype(dtype).tobytes()


def send_v2_binary(url: str, _: Any, bundle: Trained, rows: pd.DataFrame) -> tuple[int, Any]:
    inputs, blobs = [], []
    for column in bundle.features:
        datatype, raw = raw_column(rows[column])
        inputs.append(
            {
                "name": column,
                "datatype": datatype,
                "shape": [len(rows)],
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        blobs.append(raw)
    header = orjson.dumps(
        {"inputs": inputs, "outputs": [{"name": "predict", "parameters": {"binary_data": False}}]}
    )
    return http_answer(
        httpx.post(
            f"{url}/v2/models/{bundle.name}/infer",
            content=header + b"".join(blobs),
            headers={HEADER: str(len(header)), "Content-Type": "application/octet-stream"},
        )
    )


def send_grpc(_: str, stub: Any, bundle: Trained, rows: pd.DataFrame) -> tuple[int, Any]:
    request = pb.ModelInferRequest(model_name=bundle.name)
    for column in bundle.features:
        series = rows[column]
        datatype = v2_datatype(series)
        tensor = request.inputs.add(name=column, datatype=datatype, shape=[len(rows)])
        if datatype == "BYTES":
            tensor.contents.bytes_contents.extend(v.encode() for v in series.tolist())
        elif datatype == "BOOL":
            tensor.contents.bool_contents.extend(series.tolist())
        elif datatype == "INT64":
            tensor.contents.int64_contents.extend(series.tolist())
        else:
            tensor.contents.fp64_contents.extend(series.tolist())
    try:
        response = stub.ModelInfer(request)
    except grpc.RpcError as exc:
        code = 400 if exc.code() == grpc.StatusCode.INVALID_ARGUMENT else 500
        return code, exc.details()
    output = response.outputs[0]
    if output.datatype == "BYTES":
        return 200, [v.decode() for v in output.contents.bytes_contents]
    return 200, list(output.contents.fp64_contents)


Sender = Callable[[str, Any, Trained, pd.DataFrame], tuple[int, Any]]
SENDERS: dict[str, Sender] = {
    "v1-lists": send_v1_lists,
    "v1-objects": send_v1_objects,
    "v2-columns": send_v2_columns,
    "v2-one-bytes-tensor": send_v2_bytes,
    "v2-binary": send_v2_binary,
    "grpc": send_grpc,
}
# Missing values travel as JSON null (V1, V2 JSON) or NaN in a float tensor (everywhere);
# binary and gRPC BYTES have no null, so categorical gaps are JSON-only.
JSON_SENDERS = ("v1-lists", "v1-objects", "v2-columns", "v2-one-bytes-tensor")


def assert_same(answer: tuple[int, Any], expected: list[Any]) -> None:
    status, predictions = answer
    assert status == 200, predictions
    if expected and isinstance(expected[0], float):
        assert predictions == pytest.approx(expected, rel=1e-9, abs=1e-9)
    else:
        assert predictions == expected


# -- answers equal the pipeline's, on every protocol, for every kind of bundle -------------


@pytest.mark.parametrize("protocol", list(SENDERS))
@pytest.mark.parametrize("kind", ["numeric", "mixed", "regression"])
def test_complete_rows_answer_as_the_pipeline_does(servers, trained, kind, protocol):
    bundle = trained[kind]
    rows = bundle.frame.iloc[::9]
    url, stub = servers[kind]
    answer = SENDERS[protocol](url, stub, bundle, rows)
    if kind == "numeric" and protocol == "v2-one-bytes-tensor":
        # All-numeric models take numbers only, said plainly rather than parsed from text.
        assert answer[0] == 400 and "numeric" in answer[1], answer
        return
    assert_same(answer, bundle.expected(rows))


@pytest.mark.parametrize("protocol", JSON_SENDERS)
def test_missing_values_reach_a_pipeline_that_takes_them(servers, trained, protocol):
    bundle = trained["missing"]
    assert bundle.metadata.features.accepts_missing == [True, False, True]  # age visits city
    rows = bundle.frame.iloc[:60]
    assert rows["age"].isna().any() and rows["city"].isna().any()
    url, stub = servers["missing"]
    assert_same(SENDERS[protocol](url, stub, bundle, rows), bundle.expected(rows))


@pytest.mark.parametrize("protocol", ["v2-binary", "grpc"])
def test_nan_in_a_float_tensor_is_a_missing_value(servers, trained, protocol):
    bundle = trained["missing"]
    rows = bundle.frame[bundle.frame["city"].notna()].iloc[:40]
    assert rows["age"].isna().any()
    url, stub = servers["missing"]
    assert_same(SENDERS[protocol](url, stub, bundle, rows), bundle.expected(rows))


@pytest.mark.parametrize("protocol", list(SENDERS))
@pytest.mark.parametrize(
    ("kind", "column"),
    [("missing", "visits"), ("regression", "age"), ("mixed", "age"), ("numeric", "visits")],
)
def test_a_missing_value_the_pipeline_cannot_take_is_a_400_naming_the_column(
    servers, trained, kind, column, protocol
):
    bundle = trained[kind]
    rows = bundle.frame[bundle.frame[bundle.features].notna().all(axis=1)].iloc[:3].copy()
    rows[column] = rows[column].astype(float)
    rows.loc[rows.index[1], column] = np.nan
    url, stub = servers[kind]
    status, error = SENDERS[protocol](url, stub, bundle, rows)
    assert status == 400, error
    if not (kind == "numeric" and protocol == "v2-one-bytes-tensor"):  # no BYTES at all
        assert f"row 1, column {bundle.features.index(column)} ({column!r})" in error, error


@pytest.mark.parametrize("protocol", list(SENDERS))
def test_an_unknown_category_follows_the_encoders_handle_unknown(servers, trained, protocol):
    bundle = trained["mixed"]
    rows = bundle.frame.iloc[:4].copy()
    rows["city"] = ["paris", "tokyo", "lyon", "oslo"]
    url, stub = servers["mixed"]
    # The trainer's OneHotEncoder ignores unknown categories: an all-zero encoding.
    assert_same(SENDERS[protocol](url, stub, bundle, rows), bundle.expected(rows))


def test_v2_metadata_of_a_numeric_model_keeps_one_tensor_and_names_datatypes(servers):
    url, _ = servers["numeric"]
    body = httpx.get(f"{url}/v2/models/numeric").json()
    assert body["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 2]}]
    assert body["parameters"]["features"] == ["age", "visits"]
    assert body["parameters"]["feature_datatypes"] == ["FP64", "INT64"]


@pytest.mark.parametrize(
    ("kind", "features", "datatypes"),
    [
        ("mixed", ["age", "visits", "city", "member"], ["FP64", "INT64", "BYTES", "BOOL"]),
        ("regression", ["age", "visits", "city"], ["FP64", "INT64", "BYTES"]),
    ],
)
def test_v2_metadata_names_each_features_datatype(servers, trained, kind, features, datatypes):
    url, stub = servers[kind]
    body = httpx.get(f"{url}/v2/models/{kind}").json()
    assert [(t["name"], t["datatype"], t["shape"]) for t in body["inputs"]] == [
        (f, d, [-1]) for f, d in zip(features, datatypes, strict=True)
    ]
    assert body["parameters"]["features"] == features
    assert body["parameters"]["feature_datatypes"] == datatypes
    grpc_inputs = stub.ModelMetadata(pb.ModelMetadataRequest(name=kind)).inputs
    assert [(t.name, t.datatype) for t in grpc_inputs] == list(
        zip(features, datatypes, strict=True)
    )


# -- what the model cannot take is the client's error, naming input and column -------------


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("abc", "'age'"),
        ("nan", "'age'"),
        ("inf", "'age'"),
        ("", "'age'"),
    ],
)
def test_a_bytes_tensor_with_a_bad_number_is_a_400(servers, trained, value, needle):
    bundle = trained["mixed"]
    url, _ = servers["mixed"]
    data = [["41.5", "3", "paris", "true"], [value, "3", "paris", "false"]]
    response = httpx.post(
        f"{url}/v2/models/mixed/infer",
        json={"inputs": [{"name": "input-0", "datatype": "BYTES", "shape": [2, 4], "data": data}]},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert needle in error and "input-0" in error and "row 1" in error, error
    assert bundle.features[0] == "age"


@pytest.mark.parametrize(
    ("instances", "needle"),
    [
        ([[41.0, 3, 7, True]], "'city'"),  # a number where a category belongs
        ([[41.0, 3, "paris", "yes"]], "'member'"),  # a string where a boolean belongs
        ([[41.0, "3", "paris", True]], "'visits'"),
        ([[None, 3, "paris", True]], "'age'"),  # missing, and this pipeline cannot take it
    ],
)
def test_v1_values_of_the_wrong_kind_are_a_400_naming_the_column(servers, instances, needle):
    url, _ = servers["mixed"]
    response = httpx.post(f"{url}/v1/models/mixed:predict", json={"instances": instances})
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]


def test_a_numeric_tensor_for_a_categorical_feature_is_a_400(servers):
    url, _ = servers["regression"]
    inputs = [
        {"name": "age", "datatype": "FP64", "shape": [1], "data": [40.0]},
        {"name": "visits", "datatype": "INT64", "shape": [1], "data": [3]},
        {"name": "city", "datatype": "FP64", "shape": [1], "data": [1.0]},
    ]
    response = httpx.post(f"{url}/v2/models/regression/infer", json={"inputs": inputs})
    assert response.status_code == 400 and "'city'" in response.json()["error"], response.text
    wide = [{"name": "input-0", "datatype": "FP64", "shape": [1, 3], "data": [40.0, 3, 1.0]}]
    response = httpx.post(f"{url}/v2/models/regression/infer", json={"inputs": wide})
    assert response.status_code == 400 and "'city'" in response.json()["error"], response.text


def test_bundles_record_which_features_accept_missing(trained):
    assert trained["mixed"].metadata.features.accepts_missing == [False, False, True, False]
    assert trained["regression"].metadata.features.dtypes == ["float64", "int64", "str"]


def test_the_fixture_data_has_what_it_claims(tmp_path: Path):
    frame = shop_frame(missing=True)
    assert frame["age"].isna().sum() > 10 and frame["city"].isna().sum() > 10
    assert set(frame["bought"]) == {"yes", "no"}


@pytest.mark.parametrize("value", [3.4028235677973366e38, 1e300, -1e39])
def test_a_value_beyond_float32_is_a_400_not_a_500_from_a_tree_model(iris_server, value):
    """Forests predict in float32; sklearn refuses what overflows it. Found by the fuzz suite
    (a 500 on iris, V2 binary FP64), here on every JSON path too."""
    url, _ = iris_server
    rows = [[5.1, value, 1.4, 0.2]]
    for response in (
        httpx.post(f"{url}/v1/models/iris:predict", json={"instances": rows}),
        httpx.post(
            f"{url}/v2/models/iris/infer",
            json={
                "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": rows}]
            },
        ),
    ):
        assert response.status_code == 400, response.text
        assert "'sepal_width'" in response.json()["error"]
