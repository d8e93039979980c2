"""Session fixtures for the e2e suite: binaries, a running local cluster, kubectl, namespaces.

The cluster is the one `make cluster-up` starts (hack/localcluster): reused when it is already
up and healthy, started otherwise and then stopped at the end of the session, unless
MODELPILOT_KEEP_CLUSTER=1. Every test gets its own namespace, deleted afterwards.

Under pytest-xdist (`make test-e2e` runs `-n $(E2E_WORKERS)`), worker gwK gets a cluster of its
own at index MODELPILOT_CLUSTER_INDEX + K: the suite mostly waits on timers (canary steps,
analysis windows, leases), so two clusters side by side halve its wall time on two cores. Work
is handed out a test module at a time (`--dist loadfile`, so a module's fixtures stay on one
cluster), the modules that took longest in tests/e2e/durations.json first, so the longest one
never starts last. Refresh that file with
MODELPILOT_E2E_DURATIONS_OUT=tests/e2e/durations.json make test-e2e.

Fixtures: `k8s_bin` (Path of the pinned binaries), `cluster` (a `Cluster`), `kubeconfig`
(str), `kube` (environment dict with KUBECONFIG and PATH for subprocesses), `kubectl`
(a `kube.Kubectl`), `namespace` (a fresh namespace name, its default ServiceAccount ready),
`crd` (the ModelDeployment CRD, Established), `operator` (the operator watching the test's
namespace: a local process, or the chart's in-cluster one in modules marked
`in_cluster_operator`) and `story` (the test's `operator_harness.Story`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helm_harness import InClusterOperator
from kube import REPO, Kubectl, wait_for
from kube import k8s_bin as _k8s_bin
from operator_harness import OperatorProcess, Story, install_crd

DURATIONS = Path(__file__).with_name("durations.json")


def _this_workers_cluster_index() -> None:
    """Worker gwK of `pytest -n N` runs on cluster index MODELPILOT_CLUSTER_INDEX + K. Set at
    import, before any fixture or test reads the index (test_faults, the localcluster calls)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        base = int(os.environ.get("MODELPILOT_CLUSTER_INDEX") or 0)
        os.environ["MODELPILOT_CLUSTER_INDEX"] = str(base + int(worker.removeprefix("gw")))


_this_workers_cluster_index()


def e2e_group(nodeid: str) -> str:
    """The unit of work one xdist worker takes whole (`--dist loadfile`): the test's module."""
    return Path(nodeid.partition("::")[0]).stem


def order_by_duration(groups: list[str], seconds: dict[str, float]) -> list[str]:
    """Longest first (a group never measured counts as the longest); ties keep their order."""
    return sorted(groups, key=lambda g: -seconds.get(g, float("inf")))


_measured: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With MODELPILOT_E2E_DURATIONS_OUT=path, sum each group's setup, call and teardown time
    (in the xdist controller, which sees every worker's reports) ..."""
    if os.environ.get("MODELPILOT_E2E_DURATIONS_OUT"):
        group = e2e_group(report.nodeid)
        _measured[group] = _measured.get(group, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """... and write them there at the end, rounded: the file to commit as durations.json."""
    out = os.environ.get("MODELPILOT_E2E_DURATIONS_OUT")
    if out and _measured and "PYTEST_XDIST_WORKER" not in os.environ:
        ordered = dict(sorted(_measured.items(), key=lambda kv: -kv[1]))
        Path(out).write_text(json.dumps({g: round(s) for g, s in ordered.items()}, indent=1) + "\n")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups in the order to hand them out: longest first, by tests/e2e/durations.json."""
    by_group: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_group.setdefault(e2e_group(item.nodeid), []).append(item)
    seconds = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    items[:] = [i for g in order_by_duration(list(by_group), seconds) for i in by_group[g]]


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    bin: Path
    kubectl: Kubectl
    started_here: bool
    registry: str  # host:port of this cluster index's registry, which its node pulls from

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
    yield Cluster(
        kubeconfig,
        k8s_bin,
        kubectl,
        started_here=not already_running,
        registry=exports["MODELPILOT_REGISTRY"],
    )
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


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> None:
    install_crd(kubectl)


@pytest.fixture
def operator(
    request: pytest.FixtureRequest,
    crd: None,
    k8s_bin: Path,
    kubectl: Kubectl,
    namespace: str,
    kube: dict[str, str],
    tmp_path: Path,
) -> Iterator[OperatorProcess | InClusterOperator]:
    """The operator watching the test's namespace: a local process on the admin kubeconfig, or
    in a module marked `in_cluster_operator`, the chart's in-cluster Deployment running the
    operator image on its own ServiceAccount token, so every API call a scenario makes the
    operator perform is authorised by the chart's RBAC or fails, and a kill is a forced pod
    deletion. Both have start / kill / stop / log."""
    in_cluster = request.node.get_closest_marker("in_cluster_operator") is not None
    running: OperatorProcess | InClusterOperator = (
        InClusterOperator(k8s_bin, kubectl, namespace)
        if in_cluster
        else OperatorProcess(namespace, kube, tmp_path / "operator.log")
    )
    running.start()
    yield running
    log = running.log()
    running.stop()
    print(f"--- operator log ---\n{log[-8000:]}")


@pytest.fixture
def story(kubectl: Kubectl, namespace: str) -> Story:
    return Story(kubectl, namespace)
