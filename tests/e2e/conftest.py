"""Session fixtures for the e2e suite: binaries, a running local cluster, kubectl, namespaces.

The cluster is the one `make cluster-up` starts (hack/localcluster): reused when it is already
up and healthy, started otherwise and then stopped at the end of the session, unless
MODELPILOT_KEEP_CLUSTER=1. Every test gets its own namespace, deleted afterwards.

Fixtures: `k8s_bin` (Path of the pinned binaries), `cluster` (a `Cluster`), `kubeconfig`
(str), `kube` (environment dict with KUBECONFIG and PATH for subprocesses), `kubectl`
(a `kube.Kubectl`), `namespace` (a fresh namespace name, its default ServiceAccount ready).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kube import REPO, Kubectl, wait_for
from kube import k8s_bin as _k8s_bin


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    bin: Path
    kubectl: Kubectl
    started_here: bool

    @property
    def env(self) -> dict[str, str]:
        return self.kubectl.env


def _localcluster(command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "hack")}
    env.pop("KUBECONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "localcluster", command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.fixture(scope="session")
def k8s_bin() -> Path:
    """The pinned binaries, built by hack/k8s/build.sh when missing (a no-op when cached)."""
    result = subprocess.run(
        [str(REPO / "hack" / "k8s" / "build.sh")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"hack/k8s/build.sh failed:\n{result.stderr[-4000:]}"
    return _k8s_bin()


@pytest.fixture(scope="session")
def cluster(k8s_bin: Path) -> Iterator[Cluster]:
    status = _localcluster("status").stdout
    # Any component already running means the cluster is someone else's: never stop it.
    already_running = "running" in status
    result = _localcluster("up")
    assert result.returncode == 0, f"cluster-up failed:\n{result.stderr}"
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in result.stdout.splitlines()
        if line.startswith("export ")
    )
    kubeconfig = Path(exports["KUBECONFIG"])
    kubectl = Kubectl(k8s_bin / "kubectl", kubeconfig)
    yield Cluster(kubeconfig, k8s_bin, kubectl, started_here=not already_running)
    if not already_running and os.environ.get("MODELPILOT_KEEP_CLUSTER") != "1":
        _localcluster("down")


@pytest.fixture(scope="session")
def kubeconfig(cluster: Cluster) -> str:
    return str(cluster.kubeconfig)


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> dict[str, str]:
    """Environment for subprocesses (kubectl, helm, the operator) aimed at the local cluster."""
    return cluster.env


@pytest.fixture(scope="session")
def kubectl(cluster: Cluster) -> Kubectl:
    return cluster.kubectl


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kubectl: Kubectl) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (without waiting) after it."""
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", name)
    # Pods are refused until the ServiceAccount controller has made `default`.
    wait_for(
        lambda: (
            kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0
        ),
        timeout=30,
        what=f"serviceaccount default in {name}",
    )
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)
