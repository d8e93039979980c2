"""Given/When/Then helpers for the operator's e2e stories: the CRD installed, the operator
running as a real subprocess (`python -m modelpilot.operator -n NS`) with the admin
kubeconfig, and readers for what a person would look at (kubectl get, conditions)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kube import REPO, Kubectl, condition, has_condition, wait_for

CRD = REPO / "manifests" / "crd" / "modelpilot.dev_modeldeployments.yaml"
EXAMPLES = REPO / "examples"


def install_crd(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    # Not `kubectl wait --for=condition=Established`: on a CRD created a moment ago it fails
    # at once ("status.conditions accessor error") while the status has no conditions yet.
    wait_for(
        lambda: has_condition(
            kubectl.json("get", "crd", "modeldeployments.modelpilot.dev"), "Established"
        ),
        timeout=60,
        what="crd/modeldeployments.modelpilot.dev Established",
    )


@dataclass
class OperatorProcess:
    """The operator as a subprocess; `kill()` is SIGKILL, the crash a test wants."""

    namespace: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        log.write(f"\n=== start {self.starts} ===\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelpilot.operator", "-n", self.namespace],
            env={**self.env, "PYTHONUNBUFFERED": "1", **self.extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        log.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Story:
    """What a person sees of one ModelDeployment in one namespace."""

    kubectl: Kubectl
    namespace: str
    name: str = "iris"

    def apply(self, path_or_objects: Any) -> None:
        if isinstance(path_or_objects, Path):
            self.kubectl("apply", "-n", self.namespace, "-f", str(path_or_objects))
        else:
            self.kubectl.apply(path_or_objects, self.namespace)

    def mdep(self) -> dict:
        return self.kubectl.json("get", "mdep", self.name, "-n", self.namespace)

    def status(self) -> dict:
        return self.mdep().get("status") or {}

    def condition(self, ctype: str) -> dict:
        return condition(self.mdep(), ctype) or {}

    def wait_condition(
        self, ctype: str, status: str = "True", *, timeout: float = 120, reason: str | None = None
    ) -> dict:
        def probe() -> dict | None:
            c = self.condition(ctype)
            ok = c.get("status") == status and (reason is None or c.get("reason") == reason)
            return c if ok else None

        return wait_for(probe, timeout=timeout, what=f"{self.name} {ctype}={status} {reason or ''}")

    def wait_phase(self, phase: str, *, timeout: float = 120) -> dict:
        return wait_for(
            lambda: self.status() if self.status().get("phase") == phase else None,
            timeout=timeout,
            what=f"{self.name} phase {phase}",
        )

    def names(self, kind: str) -> list[str]:
        items = self.kubectl.json(
            "get", kind, "-n", self.namespace, "-l", f"modelpilot.dev/model={self.name}"
        )["items"]
        return sorted(i["metadata"]["name"] for i in items)

    def serving_pods(self, revision: str) -> list[dict]:
        return self.kubectl.pods(
            self.namespace,
            f"modelpilot.dev/model={self.name},modelpilot.dev/revision={revision},"
            "modelpilot.dev/component=serving",
        )

    def store_dir(self, claim: str = "models") -> Path:
        """The model store's directory on this machine (the local provisioner's hostPath)."""
        pvc = wait_for(
            lambda: (lambda p: p if p["status"].get("phase") == "Bound" else None)(
                self.kubectl.json("get", "pvc", claim, "-n", self.namespace)
            ),
            timeout=30,
            what=f"pvc {claim} bound",
        )
        pv = self.kubectl.json("get", "pv", pvc["spec"]["volumeName"])
        return Path(pv["spec"]["hostPath"]["path"])


def post_json(url: str, body: dict, timeout: float = 10) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def elapsed_since(start: float) -> float:
    return round(time.monotonic() - start, 2)


def model_store_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("MODELPILOT_")}
