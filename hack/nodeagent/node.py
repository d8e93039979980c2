"""The Node object and its heartbeat: registration, Lease renewal and status updates.

The node-lifecycle controller taints a node whose Lease is not renewed within its grace
period (40 s), so the Lease is renewed every 10 s and the Ready condition's heartbeat every
10 s too, as the kubelet does by default.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from datetime import UTC, datetime

from nodeagent.kube import ApiError, Kube

log = logging.getLogger(__name__)
LEASE_SECONDS = 40
RENEW_EVERY = 10.0


def _now(micro: bool = False) -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def node_status(
    *, name: str, address: str, kubelet_port: int, version: str, capacity: dict[str, str], now: str
) -> dict:
    def cond(ctype: str, status: str, reason: str, message: str) -> dict:
        return {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return {
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            cond(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "local node agent has sufficient memory available",
            ),
            cond(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "local node agent has no disk pressure",
            ),
            cond(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "local node agent has sufficient PID available",
            ),
            cond("Ready", "True", "KubeletReady", "local node agent is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": address},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {
            "machineID": _machine_id(),
            "systemUUID": _machine_id(),
            "bootID": _boot_id(),
            "kernelVersion": platform.release(),
            "osImage": _os_image(),
            "containerRuntimeVersion": "nodeagent://0.1.0",
            "kubeletVersion": version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                platform.machine(), platform.machine()
            ),
        },
    }


def _read(path: str, default: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip() or default
    except OSError:
        return default


def _machine_id() -> str:
    return _read("/etc/machine-id", "0" * 32)


def _boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id", "unknown")


def _os_image() -> str:
    for line in _read("/etc/os-release", "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


class NodeHeartbeat(threading.Thread):
    def __init__(
        self,
        kube: Kube,
        *,
        name: str,
        address: str,
        pod_cidr: str,
        kubelet_port: int,
        version: str,
        stop: threading.Event,
    ):
        super().__init__(name="node-heartbeat", daemon=True)
        self.kube, self.name, self.address = kube, name, address
        self.pod_cidr, self.kubelet_port, self.version = pod_cidr, kubelet_port, version
        self.stop = stop
        cpus = os.environ.get("NODEAGENT_CPU", "16")
        self.capacity = {
            "cpu": cpus,
            "memory": os.environ.get("NODEAGENT_MEMORY", "32Gi"),
            "pods": "110",
            "ephemeral-storage": "100Gi",
            "hugepages-2Mi": "0",
            "hugepages-1Gi": "0",
        }
        self.uid = ""

    def _status(self) -> dict:
        return node_status(
            name=self.name,
            address=self.address,
            kubelet_port=self.kubelet_port,
            version=self.version,
            capacity=self.capacity,
            now=_now(),
        )

    def register(self) -> None:
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
        }
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]},
            "status": self._status(),
        }
        try:
            node = self.kube.create("/api/v1/nodes", body)
        except ApiError as err:
            if err.status != 409:
                raise
            node = self.kube.merge_patch(
                f"/api/v1/nodes/{self.name}", {"metadata": {"labels": labels}}
            )
        self.uid = node["metadata"]["uid"]
        self.post_status()
        self.renew_lease()

    def post_status(self) -> None:
        self.kube.merge_patch(f"/api/v1/nodes/{self.name}/status", {"status": self._status()})

    def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": _now(micro=True),
        }
        try:
            self.kube.merge_patch(path, {"spec": spec})
        except ApiError as err:
            if err.status != 404:
                raise
            self.kube.create(
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": self.name,
                        "ownerReferences": [
                            {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self.uid}
                        ],
                    },
                    "spec": spec,
                },
            )

    def run(self) -> None:
        while not self.stop.wait(RENEW_EVERY):
            try:
                self.renew_lease()
                self.post_status()
            except Exception as err:
                log.warning("node heartbeat failed: %s", err)
