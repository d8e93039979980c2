"""Many concurrent maximum-size bodies against one `modelpilot serve` process held to a
serving pod's default memory limit (1 GiB) by a memory cgroup of its own (issue 21 §3).

The flood of tests/e2e/test_serving_memory.py, without the cluster: 24 senders, at most 160
bodies of 8,000,000 bytes or 45 s (V1 JSON of far too many rows, V2 binary BYTES), a normal
prediction every 0.2 s and the kubelet's readiness probe (every 2 s, 3 s timeout, 3 misses)
in between. It prints the answers
by status, the normal predictions' answers, the cgroup's peak memory, and the kernel's OOM
kills in it. `--max-inflight-bytes N` changes the server's budget; a budget far above the
limit (say 68719476736) is the server without the aggregate bound, as before §3.

Needs root and a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory (the cgroup is made
and removed here); elsewhere it refuses rather than measure without the limit.

    .venv/bin/python bench/serving_flood.py [--max-inflight-bytes N] [--limit-mib 1024]
        [--flooders 24] [--max-bodies 160]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson

MEMCG_ROOT = Path("/sys/fs/cgroup/memory")
BODY = 8_000_000
FLOODERS = 24
MAX_BODIES = 160
MAX_SECONDS = 45.0
ROW = [5.1, 3.5, 1.4, 0.2]
IRIS = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")


def json_body() -> bytes:
    row = orjson.dumps(ROW)
    rows = (BODY - 32) // (len(row) + 1)
    body = b'{"instances":[' + b",".join([row] * rows) + b"]}"
    return body + b" " * (BODY - len(body))


def binary_body() -> tuple[bytes, int]:
    count = (BODY - 256) // 6
    raw = (struct.pack("<I", 2) + b"ab") * count
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": IRIS[0],
                    "shape": [count],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    )
    return header + raw, len(header)


def iris_bundle(root: Path) -> tuple[Path, str]:
    """The iris example's model (20 trees) as a bundle, with its drift reference."""
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    from modelpilot.api.bundle import BundleMetadata, FeatureSchema, running_versions, write_bundle
    from modelpilot.trainer.reference import reference_of

    X, y = load_iris(return_X_y=True)
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    target = root / "iris" / "v1"
    written = write_bundle(
        model,
        BundleMetadata(
            name="iris",
            namespace="bench",
            revision="v1",
            created_at=datetime.datetime.now(datetime.UTC).isoformat(),
            task="classification",
            estimator="sklearn.ensemble.RandomForestClassifier",
            features=FeatureSchema(names=list(IRIS), dtypes=["float64"] * 4),
            classes=model.classes_.tolist(),
            training_data_sha256="0" * 64,
            holdout_sha256="0" * 64,
            metrics={},
            versions=running_versions(),
            drift_reference=reference_of(pd.DataFrame(X, columns=list(IRIS))),
        ),
        target,
    )
    return target, written.model_sha256


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memcg_figures(memcg: Path) -> dict[str, int]:
    kills = 0
    for line in (memcg / "memory.oom_control").read_text().splitlines():
        if line.startswith("oom_kill "):
            kills = int(line.split()[1])
    return {
        "peak": int((memcg / "memory.max_usage_in_bytes").read_text()),
        "failcnt": int((memcg / "memory.failcnt").read_text()),
        "oom_kills": kills,
    }


def flood(
    base: str, flooders: int, max_bodies: int
) -> tuple[int, Counter[str], Counter[str], list[float], float]:
    predict = f"{base}/v1/models/iris:predict"
    jbody = json_body()
    bbody, header_length = binary_body()
    answers: Counter[str] = Counter()
    normal: Counter[str] = Counter()
    not_ready: list[float] = []
    probes: list[float] = []  # readiness probe latencies
    latencies: list[float] = []  # normal predictions' latencies
    sent = 0
    lock = threading.Lock()
    deadline = time.monotonic() + MAX_SECONDS
    stop = threading.Event()

    def take() -> bool:
        nonlocal sent
        with lock:
            if sent >= max_bodies or time.monotonic() > deadline:
                return False
            sent += 1
            return True

    def flooder(index: int) -> None:
        with httpx.Client(timeout=30) as client:
            while take():
                try:
                    if index % 2:
                        answer = client.post(
                            predict, content=jbody, headers={"content-type": "application/json"}
                        )
                    else:
                        answer = client.post(
                            f"{base}/v2/models/iris/infer",
                            content=bbody,
                            headers={
                                "content-type": "application/octet-stream",
                                "inference-header-content-length": str(header_length),
                            },
                        )
                    answers[f"http-{answer.status_code}"] += 1
                except httpx.TransportError as error:
                    answers[type(error).__name__] += 1

    def prober() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.wait(0.2):
                try:
                    asked = time.monotonic()
                    answer = client.post(predict, json={"instances": [ROW]})
                    latencies.append(time.monotonic() - asked)
                    normal[f"http-{answer.status_code}"] += 1
                except httpx.TransportError as error:
                    normal[type(error).__name__] += 1

    started = time.monotonic()
    probe = threading.Thread(target=prober, daemon=True)
    probe.start()
    try:
        with ThreadPoolExecutor(flooders) as pool:
            futures = [pool.submit(flooder, i) for i in range(flooders)]
            failures = 0  # the kubelet's readiness probe: every 2 s, 3 s timeout, 3 misses
            while not all(f.done() for f in futures):
                asked = time.monotonic()
                try:
                    ready = httpx.get(f"{base}/v2/health/ready", timeout=3).status_code == 200
                except httpx.TransportError:
                    ready = False
                probes.append(time.monotonic() - asked)
                failures = 0 if ready else failures + 1
                if failures >= 3:
                    not_ready.append(round(time.monotonic() - started, 1))
                time.sleep(max(0.0, 2.0 - (time.monotonic() - asked)))
    finally:
        stop.set()
        probe.join(timeout=15)
    seconds = time.monotonic() - started
    print(
        f"readiness probe latency max {max(probes, default=0):.2f}s; normal prediction "
        f"latency median {statistics.median(latencies or [0]):.2f}s, "
        f"max {max(latencies, default=0):.2f}s"
    )
    return sent, answers, normal, not_ready, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-inflight-bytes", type=int, default=None)
    parser.add_argument("--limit-mib", type=int, default=1024)
    parser.add_argument("--flooders", type=int, default=FLOODERS, help="concurrent senders")
    parser.add_argument("--max-bodies", type=int, default=MAX_BODIES)
    args = parser.parse_args()
    if os.geteuid() != 0 or not (MEMCG_ROOT / "cgroup.procs").exists():
        raise SystemExit("needs root and a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory")
    memcg = MEMCG_ROOT / f"modelpilot-bench-flood-{os.getpid()}"
    memcg.mkdir()
    try:
        (memcg / "memory.limit_in_bytes").write_text(str(args.limit_mib * 2**20))
        with tempfile.TemporaryDirectory() as tmp:
            bundle, sha256 = iris_bundle(Path(tmp))
            port = free_port()
            argv = [
                sys.executable,
                "-m",
                "modelpilot.serving",
                "--model-dir",
                str(bundle),
                "--model-name",
                "iris",
                "--expected-sha256",
                sha256,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--grpc-port",
                "0",
                "--log-level",
                "warning",
            ]
            if args.max_inflight_bytes is not None:
                argv += ["--max-inflight-bytes", str(args.max_inflight_bytes)]
            procs = str(memcg / "cgroup.procs")

            def into_memcg() -> None:  # in the child, before exec: it and all it starts
                Path(procs).write_text(str(os.getpid()))

            server = subprocess.Popen(argv, preexec_fn=into_memcg)
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 60
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                            break
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not become ready")
                    time.sleep(0.2)
                sent, answers, normal, not_ready, seconds = flood(
                    base, args.flooders, args.max_bodies
                )
                exit_code = server.poll()
            finally:
                server.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(timeout=20)
                if server.poll() is None:
                    server.kill()
                    server.wait()
            figures = memcg_figures(memcg)
    finally:
        with contextlib.suppress(OSError):
            memcg.rmdir()
    budget = args.max_inflight_bytes or "default (134217728)"
    print(
        f"--max-inflight-bytes {budget}, memory limit {args.limit_mib} MiB, {args.flooders} senders"
    )
    print(f"{sent} bodies of {BODY} bytes in {seconds:.1f}s: {dict(sorted(answers.items()))}")
    print(f"normal predictions in between: {dict(sorted(normal.items()))}")
    print(f"not ready (3 probes missed in a row) at (s): {not_ready or 'never'}")
    print(
        f"cgroup peak {figures['peak'] / 2**20:.0f} MiB, limit hits {figures['failcnt']}, "
        f"OOM kills {figures['oom_kills']}; server "
        + ("still running" if exit_code is None else f"exited with {exit_code}")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
