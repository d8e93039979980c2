"""The chart on the local cluster, as the install stories and the in-cluster operator use it:
the pinned `helm` and `kubectl`, namespaces that enforce the `restricted` Pod Security
Standard, a release watching one namespace, and predictions sent to a serving pod.

`InClusterOperator` is what the `operator` fixture runs in the operator's and the canary's
suites (the `in_cluster_operator` mark, conftest.py): the operator in-cluster, watching one
namespace, with `OperatorProcess`'s interface.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kube import REPO, Kubectl, has_condition, k8s_bin, wait_for

CHART = REPO / "charts" / "modelpilot"
EXAMPLE = REPO / "examples" / "iris"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def tool(name: str) -> str:
    """The pinned binary `name` (helm, kubectl ...) from the cache's bin directory."""
    path = k8s_bin() / name
    assert path.exists(), f"{path} is missing: run `make k8s-bin`"
    return str(path)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def helm(k8s_bin: Path, kubectl: Kubectl, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [str(k8s_bin / "helm"), *args],
        env=kubectl.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def restricted_namespace(kubectl: Kubectl, name: str) -> str:
    kubectl.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}}
    )
    wait_for(
        lambda: (
            kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0
        ),
        timeout=30,
        what=f"serviceaccount default in {name}",
    )
    return name


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    watched: tuple[str, ...]

    @property
    def operator(self) -> str:
        """The operator Deployment's (and ServiceAccount's) name."""
        return (
            f"{self.name}-operator"
            if "modelpilot" in self.name
            else (f"{self.name}-modelpilot-operator")
        )


def install_release(k8s_bin: Path, kubectl: Kubectl, models: str) -> Release:
    """The chart installed in a restricted namespace of its own, watching `models`."""
    name = f"mp-{uuid.uuid4().hex[:6]}"
    system = restricted_namespace(kubectl, f"{name}-system")
    helm(
        k8s_bin,
        kubectl,
        "install",
        name,
        str(CHART),
        "--namespace",
        system,
        "--wait",
        "--timeout",
        "180s",
        "--set",
        f"watchNamespaces={{{models}}}",
    )
    return Release(name, system, (models,))


def remove_release(k8s_bin: Path, kubectl: Kubectl, release: Release) -> None:
    """Uninstalls the release unless a test already did, and drops its namespace."""
    if json.loads(helm(k8s_bin, kubectl, "list", "-n", release.namespace, "-o", "json")):
        helm(
            k8s_bin, kubectl, "uninstall", release.name, "--namespace", release.namespace, "--wait"
        )
    kubectl("delete", "namespace", release.namespace, "--wait=false", check=False)


@dataclass
class InClusterOperator:
    """The operator installed by the chart, with `OperatorProcess`'s interface (the fixture
    switch): start = install (or scale back to one), kill = force-delete the pod, no grace,
    stop = uninstall. The operator acts with its ServiceAccount token only, so every
    permission a scenario needs is proven by use."""

    k8s_bin: Path
    kubectl: Kubectl
    namespace: str  # the one namespace it watches
    release: Release | None = None
    starts: int = 0

    def start(self) -> None:
        if self.release is None:
            self.release = install_release(self.k8s_bin, self.kubectl, self.namespace)
        else:
            self.kubectl(
                "scale",
                f"deployment/{self.release.operator}",
                "--replicas=1",
                "-n",
                self.release.namespace,
            )
            self.kubectl(
                "rollout",
                "status",
                f"deployment/{self.release.operator}",
                "-n",
                self.release.namespace,
                "--timeout=120s",
                timeout=140,
            )
        self.starts += 1

    def kill(self) -> None:
        assert self.release is not None
        ns, selector = self.release.namespace, f"app.kubernetes.io/instance={self.release.name}"
        self.kubectl("scale", f"deployment/{self.release.operator}", "--replicas=0", "-n", ns)
        self.kubectl(
            "delete",
            "pod",
            "-n",
            ns,
            "-l",
            selector,
            "--grace-period=0",
            "--force",
            "--wait=true",
            "--timeout=60s",
            check=False,
            timeout=80,
        )
        wait_for(
            lambda: not self.kubectl.pods(ns, selector), timeout=60, what="the operator pod gone"
        )

    def stop(self) -> None:
        if self.release is not None:
            helm(
                self.k8s_bin,
                self.kubectl,
                "uninstall",
                self.release.name,
                "--namespace",
                self.release.namespace,
            )
            self.kubectl("delete", "namespace", self.release.namespace, "--wait=false", check=False)

    def log(self) -> str:
        if self.release is None:
            return ""
        return self.kubectl(
            "logs", "-n", self.release.namespace, f"deployment/{self.release.operator}", check=False
        ).stdout


def operator_pod(kubectl: Kubectl, release: Release) -> dict:
    pods = [
        p
        for p in kubectl.pods(release.namespace, f"app.kubernetes.io/instance={release.name}")
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def pod_ready(pod: dict) -> bool:
    return has_condition(pod, "Ready")


def serving_pod(kubectl: Kubectl, namespace: str) -> dict:
    pods = kubectl.pods(namespace, "modelpilot.dev/component=serving")
    assert len(pods) == 1
    return pods[0]


def predict(ip: str) -> int:
    """One V1 prediction from a serving pod; the HTTP status (0 when refused)."""
    body = json.dumps({"instances": [IRIS_ROW]}).encode()
    request = urllib.request.Request(
        f"http://{ip}:8080/v1/models/iris:predict",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


@dataclass
class Prober:
    """Sends predictions to one pod from a thread until stopped; counts the outcomes."""

    ip: str
    statuses: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            self.statuses.append(predict(self.ip))
            time.sleep(0.05)

    @contextlib.contextmanager
    def running(self) -> Iterator[Prober]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=10)
