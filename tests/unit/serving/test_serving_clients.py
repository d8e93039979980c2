"""The ecosystem's own clients as test oracles: KServe's SDK and Triton's tritonclient, with
their default settings, against a real `modelpilot serve` process on loopback, over REST (V1,
V2 binary and JSON) and gRPC, for a classifier and a regressor, including the error each
client raises for a wrong tensor name or shape and an unknown model.

The clients live in their own virtualenv (hack/oracles/venv.sh, created on first use outside
the clone); oracle_clients.py runs in it and reports what the clients saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serving_helpers import Bundle, free_socket

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def oracle_python() -> str:
    result = subprocess.run(
        [str(ROOT / "hack" / "oracles" / "venv.sh")], capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, f"cannot create the clients' virtualenv:\n{result.stderr}"
    return result.stdout.strip()


def free_port() -> int:
    with free_socket() as sock:
        return sock.getsockname()[1]


def serve(bundle: Bundle) -> Iterator[tuple[str, str]]:
    """`modelpilot serve` as the pod runs it; yields (HTTP base URL, gRPC address)."""
    http, grpc = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelpilot.serving",
            "--model-dir",
            str(bundle.path),
            "--model-name",
            bundle.metadata.name,
            "--expected-sha256",
            bundle.sha256,
            "--host",
            "127.0.0.1",
            "--port",
            str(http),
            "--grpc-port",
            str(grpc),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "MODELPILOT_DRAIN_SECONDS": "0"},
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{http}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "modelpilot serve did not become ready"
            time.sleep(0.1)
        yield url, f"127.0.0.1:{grpc}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stderr.close()


def ask_clients(python: str, bundle: Bundle, rows: np.ndarray) -> dict[str, Any]:
    for url, grpc in serve(bundle):
        config = {"http": url, "grpc": grpc, "model": bundle.metadata.name, "rows": rows.tolist()}
        seen: dict[str, Any] = {}
        for family in ("triton", "kserve"):
            result = subprocess.run(
                [python, str(HERE / "oracle_clients.py"), family, json.dumps(config)],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, result.stderr[-3000:]
            seen.update(json.loads(result.stdout))
        return seen
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def classifier_seen(oracle_python, iris_bundle) -> tuple[dict[str, Any], list[Any]]:
    rows = iris_bundle.X[::10]
    return ask_clients(oracle_python, iris_bundle, rows), iris_bundle.estimator.predict(
        rows
    ).tolist()


@pytest.fixture(scope="module")
def regressor_seen(oracle_python, regression_bundle) -> tuple[dict[str, Any], list[Any]]:
    rows = regression_bundle.X[:7]
    return ask_clients(oracle_python, regression_bundle, rows), regression_bundle.estimator.predict(
        rows
    ).tolist()


HEALTH = [
    "triton_http_live",
    "triton_http_ready",
    "triton_http_model_ready",
    "triton_grpc_live",
    "triton_grpc_ready",
    "triton_grpc_model_ready",
    "kserve_rest_v2_live",
    "kserve_rest_v2_ready",
    "kserve_rest_v2_model_ready",
    "kserve_grpc_live",
    "kserve_grpc_ready",
    "kserve_grpc_model_ready",
    "kserve_rest_v1_live",
    "kserve_rest_v1_model_ready",
]
INFER = [
    "triton_http_infer",
    "triton_http_infer_json",
    "triton_grpc_infer",
    "kserve_rest_v2_infer",
    "kserve_rest_v2_infer_json",
    "kserve_grpc_infer",
    "kserve_rest_v1_infer",
]
TRITON = "tritonclient.utils.InferenceServerException"
# case suffix -> (REST status, gRPC status)
ERRORS = {
    "wrong_name": ("400", "StatusCode.INVALID_ARGUMENT"),
    "wrong_shape": ("400", "StatusCode.INVALID_ARGUMENT"),
    "unknown_model": ("404", "StatusCode.NOT_FOUND"),
}


def value(seen: dict[str, Any], case: str) -> Any:
    assert "value" in seen[case], f"{case}: {seen[case]['error']}"
    return seen[case]["value"]


@pytest.mark.parametrize("which", ["classifier", "regressor"])
@pytest.mark.parametrize("case", HEALTH)
def test_health_routes(request, which, case):
    seen, _ = request.getfixturevalue(f"{which}_seen")
    assert value(seen, case) is True


@pytest.mark.parametrize("which", ["classifier", "regressor"])
def test_metadata_routes(request, which):
    seen, _ = request.getfixturevalue(f"{which}_seen")
    for kind in ("http", "grpc"):
        assert value(seen, f"triton_{kind}_server_name") == "modelpilot"
        assert value(seen, f"triton_{kind}_model_inputs") == ["input-0"]


@pytest.mark.parametrize("which", ["classifier", "regressor"])
@pytest.mark.parametrize("case", INFER)
def test_infer_answers_what_the_model_predicts(request, which, case):
    seen, expected = request.getfixturevalue(f"{which}_seen")
    got = value(seen, case)
    if which == "classifier":
        assert got == expected
    else:
        assert np.allclose(got, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("which", ["classifier", "regressor"])
@pytest.mark.parametrize("suffix", list(ERRORS))
def test_errors_are_what_each_client_expects(request, which, suffix):
    seen, _ = request.getfixturevalue(f"{which}_seen")
    rest, grpc = ERRORS[suffix]
    triton_http = seen[f"triton_http_{suffix}"]["error"]
    assert (triton_http["type"], triton_http["status"]) == (TRITON, rest)
    triton_grpc = seen[f"triton_grpc_{suffix}"]["error"]
    assert (triton_grpc["type"], triton_grpc["status"]) == (TRITON, grpc)
    kserve_rest = seen[f"kserve_rest_v2_{suffix}"]["error"]
    assert (kserve_rest["type"], kserve_rest["status"]) == ("httpx.HTTPStatusError", int(rest))
    kserve_grpc = seen[f"kserve_grpc_{suffix}"]["error"]
    assert (kserve_grpc["type"], kserve_grpc["status"]) == ("grpc.aio._call.AioRpcError", grpc)
    if suffix == "unknown_model":
        v1 = seen["kserve_rest_v1_unknown_model"]["error"]
        assert (v1["type"], v1["status"]) == ("httpx.HTTPStatusError", 404)
