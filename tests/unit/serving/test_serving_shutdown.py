"""SIGTERM: readiness goes false, in-flight requests finish, then the process exits 0."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from serving_helpers import free_socket, make_bundle
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier


def test_sigterm_drains(tmp_path: Path):
    X, y = load_iris(return_X_y=True)
    # Big enough that one request of 60,000 rows is still predicting when SIGTERM arrives.
    forest = RandomForestClassifier(n_estimators=300, random_state=0).fit(X, y)
    bundle = make_bundle(tmp_path, forest, X, name="slow", task="classification")
    rows = np.random.default_rng(0).normal(5, 2, size=(60_000, 4)).round(2)

    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelpilot.serving",
            "--model-dir",
            str(bundle.path),
            "--model-name",
            "slow",
            "--expected-sha256",
            bundle.sha256,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--max-batch-rows",
            "100000",
            "--max-body-bytes",
            "50000000",
            "--drain-seconds",
            "1.5",
            "--grpc-port",
            "0",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.05)

        # http.client's request() returns once the whole request is sent, before its answer:
        # then the server has it (it keeps serving through the drain), and predicting 60,000
        # rows takes seconds, so it is in flight when SIGTERM comes.
        slow = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        slow.request(
            "POST",
            "/v1/models/slow:predict",
            body=json.dumps({"instances": rows.tolist()}),
            headers={"Content-Type": "application/json"},
        )
        process.send_signal(signal.SIGTERM)
        # Draining: still answering, but no longer ready, and closing keep-alive
        # connections so clients move to other pods.
        deadline = time.monotonic() + 5
        while httpx.get(f"{url}/v2/health/ready").status_code != 503:
            assert time.monotonic() < deadline, "still ready 5 s after SIGTERM"
        assert httpx.get(f"{url}/v2/health/live").status_code == 200
        during = httpx.post(f"{url}/v1/models/slow:predict", json={"instances": [[1, 2, 3, 4]]})
        assert during.status_code == 200
        assert during.headers["connection"] == "close"

        response = slow.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["predictions"] == forest.predict(rows).tolist()
        slow.close()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
