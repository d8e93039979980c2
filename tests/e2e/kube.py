"""Helpers for e2e tests against the local cluster: the real kubectl, waits, HTTP, processes.

The fixtures in conftest.py hand out a `Kubectl` bound to the cluster's kubeconfig; tests
compose these helpers rather than talking to the API with a client library, so what they
prove is what a user typing kubectl would see.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def versions() -> dict[str, str]:
    text = (REPO / "hack" / "k8s" / "versions.env").read_text()
    return dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )


def cache_dir() -> Path:
    return Path(os.environ.get("MODELPILOT_CACHE") or Path.home() / ".cache" / "modelpilot")


def k8s_bin() -> Path:
    """Where hack/k8s/build.sh puts kubectl, helm, kube-apiserver ... for the pinned release."""
    return cache_dir() / "k8s" / versions()["K8S_VERSION"].strip() / "bin"


class KubectlError(AssertionError):
    pass


@dataclass(frozen=True)
class Kubectl:
    """The pinned kubectl binary with the local cluster's kubeconfig.

    `kubectl("get", "pods", "-n", ns)` returns the CompletedProcess and raises on a non-zero
    exit unless `check=False`; `.json(...)` parses `-o json` output; `.apply(objs, ns)`
    applies dicts or YAML text.
    """

    binary: Path
    kubeconfig: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.binary.parent}:{os.environ.get('PATH', '')}",
        }

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise KubectlError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)

    def apply(
        self, objects: list[dict] | dict | str, namespace: str | None = None, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if isinstance(objects, dict):
            objects = [objects]
        text = objects if isinstance(objects, str) else yaml.safe_dump_all(objects)
        ns = ["-n", namespace] if namespace else []
        return self("apply", *ns, "-f", "-", stdin=text, check=check)

    def pods(self, namespace: str, selector: str | None = None) -> list[dict]:
        sel = ["-l", selector] if selector else []
        return self.json("get", "pods", "-n", namespace, *sel)["items"]


def wait_for(
    probe: Callable[[], T], *, timeout: float = 60, interval: float = 0.25, what: str = ""
) -> T:
    """Call `probe` until it returns something truthy; fail with the last value after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except (KubectlError, OSError) as err:
            last = err
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or probe}: {last!r}"
            )
        time.sleep(interval)


def condition(obj: dict, ctype: str) -> dict | None:
    return next(
        (c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == ctype), None
    )


def has_condition(obj: dict, ctype: str, status: str = "True") -> bool:
    cond = condition(obj, ctype)
    return cond is not None and cond["status"] == status


def http_get(url: str, timeout: float = 3) -> tuple[int, str]:
    """GET from this host (pod IPs are reachable from here); (status, body), 0 when refused."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return 0, ""


def local_processes(marker: str) -> list[int]:
    """PIDs of processes on this machine whose command line contains `marker`.

    A container is a process of this machine (runc, no VM), so a unique marker in its
    args lets a test see whether that container is really running or really gone.
    """
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def termination_message(pod: dict, container: int = 0) -> str | None:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    if len(statuses) <= container:
        return None
    terminated = statuses[container].get("state", {}).get("terminated") or {}
    return terminated.get("message")
