"""Many concurrent maximum-size bodies against one serving pod on the real node, under its
default memory limit (1 GiB, enforced by containerd and runc): the pod is never OOM-killed
(restartCount 0), stays Ready, and normal predictions sent in between are all answered.

The bodies are the expensive kinds: V1 JSON with far more rows than --max-batch-rows (parsed
before the row cap can look at it) and V2 binary BYTES tensors of two-byte strings (checked
from their declared shape, issue 21 §3). Past --max-inflight-bytes the server answers 503
with Retry-After without reading the body. Loopback to the pod's IP only, a bounded number
of bodies and seconds.
"""

from __future__ import annotations

import copy
import struct
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from kube import Kubectl, has_condition
from operator_harness import EXAMPLES, Story

pytestmark = pytest.mark.e2e

BODY = 8_000_000  # just under --max-body-bytes (8 MiB): 16 of them fit --max-inflight-bytes
FLOODERS = 24  # concurrent senders, more than the budget holds
MAX_BODIES = 160
MAX_SECONDS = 45.0
ROW = [5.1, 3.5, 1.4, 0.2]


def _json_body() -> bytes:
    row = orjson.dumps(ROW)
    rows = (BODY - 32) // (len(row) + 1)
    body = b'{"instances":[' + b",".join([row] * rows) + b"]}"
    return body + b" " * (BODY - len(body))


def _binary_body() -> tuple[bytes, int]:
    count = (BODY - 256) // 6
    raw = (struct.pack("<I", 2) + b"ab") * count
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "sepal length (cm)",
                    "shape": [count],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    )
    return header + raw, len(header)


def _peak_memory(pod: dict) -> str:
    """The pod's peak memory as the node's cgroup (v1) recorded it; for the log only (the
    kernel enforces the limit, restartCount and OOMKilled say whether it was hit)."""
    uid = pod["metadata"]["uid"]
    for path in Path("/sys/fs/cgroup/memory").glob(f"*/kubepods/*/pod{uid}"):
        peak = path / "memory.max_usage_in_bytes"
        if peak.exists():
            return f"{int(peak.read_text()) / 2**20:.0f} MiB"
    return "unknown"


def _serving_pod(story: Story) -> dict:
    [pod] = story.serving_pods("v1")
    return pod


def test_concurrent_maximum_size_bodies_never_oom_the_pod_and_normal_requests_are_answered(
    operator, kubectl: Kubectl, namespace: str
):
    story = Story(kubectl, namespace)
    doc = yaml.safe_load((EXAMPLES / "iris" / "iris.yaml").read_text())
    doc = copy.deepcopy(doc)
    doc["spec"]["serving"].pop("resources", None)  # the platform's defaults: 1Gi limit
    story.apply(EXAMPLES / "iris" / "model-store.yaml")
    story.apply(doc)
    story.wait_condition("Ready", timeout=240)
    pod = _serving_pod(story)
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "1Gi", limits
    base = f"http://{pod['status']['podIP']}:8080"
    predict = f"{base}/v1/models/iris:predict"

    json_body = _json_body()
    binary_body, header_length = _binary_body()
    assert len(json_body) == BODY and len(binary_body) <= BODY
    flood: Counter[str] = Counter()
    normal: Counter[str] = Counter()
    not_ready: list[float] = []
    sent = 0
    lock = threading.Lock()
    deadline = time.monotonic() + MAX_SECONDS
    stop = threading.Event()

    def take() -> bool:
        nonlocal sent
        with lock:
            if sent >= MAX_BODIES or time.monotonic() > deadline:
                return False
            sent += 1
            return True

    def flooder(index: int) -> None:
        with httpx.Client(timeout=30) as client:
            while take():
                try:
                    if index % 2:
                        answer = client.post(
                            predict,
                            content=json_body,
                            headers={"content-type": "application/json"},
                        )
                    else:
                        answer = client.post(
                            f"{base}/v2/models/iris/infer",
                            content=binary_body,
                            headers={
                                "content-type": "application/octet-stream",
                                "inference-header-content-length": str(header_length),
                            },
                        )
                    flood[f"http-{answer.status_code}"] += 1
                except httpx.TransportError:
                    # Refused with 503 while still sending: the server closed the connection
                    # without reading the rest of the body.
                    flood["closed"] += 1

    def prober() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.wait(0.2):
                try:
                    answer = client.post(predict, json={"instances": [ROW]})
                    normal[f"http-{answer.status_code}"] += 1
                except httpx.TransportError as error:
                    normal[type(error).__name__] += 1

    started = time.monotonic()
    probe = threading.Thread(target=prober, daemon=True)
    probe.start()
    try:
        with ThreadPoolExecutor(FLOODERS) as pool:
            futures = [pool.submit(flooder, i) for i in range(FLOODERS)]
            while not all(f.done() for f in futures):
                if not has_condition(_serving_pod(story), "Ready"):
                    not_ready.append(time.monotonic() - started)
                time.sleep(1.0)
            for future in futures:
                future.result()
    finally:
        stop.set()
        probe.join(timeout=15)
    elapsed = time.monotonic() - started
    print(
        f"{sent} bodies of {BODY} bytes in {elapsed:.1f}s: {dict(flood)}; normal "
        f"{dict(normal)}; the pod's peak memory {_peak_memory(_serving_pod(story))}"
    )

    # Every maximum-size body was refused as a client error or shed, never a server failure.
    assert set(flood) <= {"http-400", "http-413", "http-503", "closed"}, flood
    assert sum(flood.values()) == sent
    # Normal predictions in between were all answered.
    assert normal["http-200"] >= 10 and set(normal) == {"http-200"}, normal
    # The pod held: Ready throughout, never restarted, never OOM-killed.
    assert not not_ready, not_ready
    pod = _serving_pod(story)
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] == 0, status
    assert "OOMKilled" not in str(status.get("lastState")), status
    assert has_condition(pod, "Ready")
    ok = httpx.post(predict, json={"instances": [ROW]}, timeout=10)
    assert ok.status_code == 200
