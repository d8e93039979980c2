"""The bytes of request bodies held across all connections are bounded: past
--max-inflight-bytes the answer is 503 with Retry-After before the body is read; gRPC's
concurrency and message size come from the same settings. Real uvicorn and grpcio on
loopback."""

from __future__ import annotations

import concurrent.futures
import socket
import time
from collections.abc import Iterator

import grpc
import httpx
import numpy as np
import pytest
from serving_helpers import free_socket, running
from test_serving_limits import slow_model

from modelpilot.serving.grpc_server import grpc_concurrency
from modelpilot.serving.inflight import InflightBytes
from modelpilot.serving.oip import open_inference_pb2 as pb
from modelpilot.serving.oip import open_inference_pb2_grpc as pb_grpc
from modelpilot.serving.settings import SettingsError, parse_settings

MIB = 1024 * 1024
ROW = [5.1, 3.5, 1.4, 0.2]
PREDICT = "/v1/models/iris:predict"


def _start_body(url: str, size: int) -> socket.socket:
    """A request whose headers declare `size` bytes and whose body has only begun."""
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)))
    s.sendall(
        f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n".encode()
        + b"{"
    )
    return s


def _response(s: socket.socket, within: float) -> bytes:
    """What the server sends before closing (or within `within` seconds)."""
    s.settimeout(within)
    out = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        out += chunk
        if b"\r\n\r\n" in out and out.endswith(b"}"):
            break
    return out


@pytest.fixture
def held_server(iris_bundle) -> Iterator[tuple[str, list[socket.socket]]]:
    """A server whose budget (2.5 MiB) is mostly held by two 1 MiB bodies in flight."""
    settings = iris_bundle.settings(max_body_bytes=1 * MIB, max_inflight_bytes=5 * MIB // 2)
    with running(settings) as (url, _):
        held = [_start_body(url, MIB), _start_body(url, MIB)]
        try:
            yield url, held
        finally:
            for s in held:
                s.close()


def test_a_body_past_the_budget_gets_503_retry_after_before_it_is_sent(held_server):
    url, held = held_server
    deadline = time.monotonic() + 5
    while True:  # the two held requests reach the app (their bodies are being read)
        third = _start_body(url, MIB)  # headers only: its body is never sent
        answer = _response(third, within=2.0)
        third.close()
        if answer.startswith(b"HTTP/1.1 503") or time.monotonic() > deadline:
            break
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), answer[:200]
    assert b"retry-after: 1" in head.lower() and b"connection: close" in head.lower()
    assert b'"overloaded"' in body and b"--max-inflight-bytes" in body
    # A small request still fits in what is left and is answered.
    ok = httpx.post(f"{url}{PREDICT}", json={"instances": [ROW]}, timeout=5)
    assert ok.status_code == 200
    # Once a held body's client goes away, its bytes are free again: a full-size body is
    # read and judged (400: not JSON), not refused.
    held[0].close()
    deadline = time.monotonic() + 5
    while True:
        judged = httpx.post(f"{url}{PREDICT}", content=b"x" * MIB, timeout=5)
        if judged.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert judged.status_code == 400, judged.text


def test_a_chunked_body_past_the_budget_gets_503_retry_after(held_server):
    url, _ = held_server

    def chunks() -> Iterator[bytes]:  # 1 MiB in all: within --max-body-bytes
        for _ in range(2):
            yield b" " * (MIB // 2)

    deadline = time.monotonic() + 5
    while True:
        refused = httpx.post(f"{url}{PREDICT}", content=chunks(), timeout=5)
        if refused.status_code == 503 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["type"] == "overloaded"


def test_a_body_over_the_body_limit_is_413_not_503(iris_bundle):
    settings = iris_bundle.settings(max_body_bytes=MIB, max_inflight_bytes=MIB)
    with running(settings) as (url, _):
        too_big = httpx.post(f"{url}{PREDICT}", content=b"x" * (MIB + 1), timeout=5)
        assert too_big.status_code == 413


def test_the_budget_counts_reservations_and_releases():
    budget = InflightBytes(10)
    assert budget.reserve(6) and budget.reserve(4)
    assert not budget.reserve(1)
    budget.release(6)
    assert budget.reserve(5) and budget.used == 9


def _free_port() -> int:
    with free_socket() as sock:
        return sock.getsockname()[1]


def test_grpc_calls_past_the_concurrency_the_budget_allows_are_refused_at_once(iris_bundle):
    settings = iris_bundle.settings(
        max_body_bytes=MIB, max_inflight_bytes=2 * MIB, grpc_port=_free_port(), batch_wait_ms=0
    )
    assert grpc_concurrency(settings) == 2
    with (
        running(settings, model=slow_model(iris_bundle)) as (_, app),
        grpc.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel,
    ):
        stub = pb_grpc.GRPCInferenceServiceStub(channel)

        def infer(rows: np.ndarray) -> grpc.StatusCode:
            request = pb.ModelInferRequest(model_name="iris")
            request.inputs.add(name="input-0", datatype="FP64", shape=rows.shape)
            request.raw_input_contents.append(rows.astype("<f8").tobytes())
            try:
                stub.ModelInfer(request, timeout=20)
            except grpc.RpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

        row = np.array([ROW])
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(infer, [row] * 8))
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        assert infer(row) == grpc.StatusCode.OK
        # A message over --max-body-bytes is refused by the transport.
        assert infer(np.zeros((MIB // 32 + 1, 4))) == grpc.StatusCode.RESOURCE_EXHAUSTED


ENV = {
    "MODELPILOT_MODEL_DIR": "/m",
    "MODELPILOT_MODEL_NAME": "iris",
    "MODELPILOT_EXPECTED_SHA256": "a" * 64,
}


def test_the_flag_its_variable_and_its_default():
    assert parse_settings([], ENV).max_inflight_bytes == 128 * MIB
    environ = {**ENV, "MODELPILOT_MAX_INFLIGHT_BYTES": str(32 * MIB)}
    assert parse_settings([], environ).max_inflight_bytes == 32 * MIB
    assert parse_settings(["--max-inflight-bytes", str(16 * MIB)], environ).max_inflight_bytes == (
        16 * MIB
    )
    with pytest.raises(SettingsError, match=r"--max-inflight-bytes .* at least --max-body-bytes"):
        parse_settings(["--max-inflight-bytes", "1024"], ENV)
