"""Wires the node agent together: node heartbeat, provisioner, log endpoint, pod workers.

One list/watch of the pods bound to this node (field selector spec.nodeName) feeds one
`PodWorker` per pod UID. On start the agent kills what a previous agent left running (it
records every process it starts, with its start time, under the state directory) and
deletes that agent's network namespaces; pods that were running are then started again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from nodeagent.kube import ApiError, Kube, pod_path
from nodeagent.logserver import serve
from nodeagent.network import PodNetwork
from nodeagent.node import NodeHeartbeat
from nodeagent.process import start_time
from nodeagent.provisioner import Provisioner
from nodeagent.runtime import PodWorker
from nodeagent.services import ServiceProxy
from nodeagent.status import RUNNING
from nodeagent.volumes import VolumeBuilder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    kubeconfig: Path
    node_name: str
    state_dir: Path
    bridge: str
    bridge_ip: str
    pod_cidr: str
    apiserver_host: str
    apiserver_port: int
    kubelet_port: int
    kubernetes_version: str
    pki_dir: Path
    venv_bin: str
    python: str
    entrypoints_file: Path | None = None
    service_cidr: str = "10.96.0.0/16"


class Agent:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.kube = Kube(cfg.kubeconfig)
        self.pods_dir = cfg.state_dir / "pods"
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        self.network = PodNetwork(bridge=cfg.bridge, bridge_ip=cfg.bridge_ip, pod_cidr=cfg.pod_cidr)
        self.volumes = VolumeBuilder(self.kube)
        self.entrypoints: dict[str, list[str]] = {}
        if cfg.entrypoints_file and cfg.entrypoints_file.exists():
            self.entrypoints = yaml.safe_load(cfg.entrypoints_file.read_text()) or {}
        # What stands in for every image: the project's virtualenv and its (editable) sources.
        # Pods must see them wherever the clone lives, /tmp included.
        venv = Path(cfg.venv_bin).resolve().parent
        project = Path(__file__).resolve().parents[2]
        self.image_paths: tuple[str, ...] = tuple(dict.fromkeys((str(venv), str(project))))
        self.workers: dict[str, PodWorker] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._events_sent: set[tuple[str, str, str]] = set()

    # ------------------------------------------------------------------ pods
    def on_pod(self, kind: str, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if kind == "DELETED":
                if worker:
                    worker.gone()
                return
            if worker:
                worker.update(pod)
                return
            if self.stop.is_set():
                return
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                # Finished before this agent started: only confirm a pending deletion.
                if pod["metadata"].get("deletionTimestamp"):
                    self._confirm_deletion(pod)
                return
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            worker.start()

    def on_sync(self, pods: list[dict]) -> None:
        present = {p["metadata"]["uid"] for p in pods}
        with self.lock:
            for uid, worker in list(self.workers.items()):
                if uid not in present:
                    worker.gone()
            live = present | set(self.workers)
        self.reap_orphans(live)
        for pod in pods:
            self.on_pod("ADDED", pod)

    def forget(self, uid: str, worker: PodWorker) -> None:
        with self.lock:
            if self.workers.get(uid) is worker:
                del self.workers[uid]

    def _confirm_deletion(self, pod: dict) -> None:
        meta = pod["metadata"]
        try:
            self.kube.delete(
                pod_path(meta["namespace"], meta["name"]),
                {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}},
            )
        except ApiError as err:
            if err.status not in (404, 409):
                log.warning("deleting %s/%s: %s", meta["namespace"], meta["name"], err)

    # ------------------------------------------------------------------ events
    def event(
        self, pod: dict, etype: str, reason: str, message: str, *, once: bool = False
    ) -> None:
        meta = pod["metadata"]
        if once:
            key = (meta["uid"], reason, message)
            if key in self._events_sent:
                return
            self._events_sent.add(key)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message[:1024],
            "type": etype,
            "source": {"component": "kubelet", "host": self.cfg.node_name},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "kubelet",
            "reportingInstance": self.cfg.node_name,
        }
        try:
            self.kube.create(f"/api/v1/namespaces/{meta['namespace']}/events", body)
        except ApiError as err:
            log.debug("event %s: %s", reason, err)

    # ------------------------------------------------------------------ logs
    def locate_log(self, namespace: str, name: str, container: str, previous: bool):
        with self.lock:
            worker = next(
                (
                    w
                    for w in self.workers.values()
                    if w.namespace == namespace and w.pod_name == name
                ),
                None,
            )
        if worker is not None:
            run = worker.run_of(container)
            if run is None:
                return None, lambda: False
            restart = run.restart_count - 1 if previous else run.restart_count
            return worker.log_path(container, max(restart, 0)), lambda: run.state == RUNNING
        dirs = sorted(
            self.pods_dir.glob(f"{namespace}_{name}_*/containers/{container}"),
            key=lambda p: p.stat().st_mtime,
        )
        if not dirs:
            return None, lambda: False
        logs = sorted(dirs[-1].glob("*.log"), key=lambda p: int(p.stem))
        if previous:
            logs = logs[:-1]
        return (logs[-1] if logs else None), lambda: False

    # ------------------------------------------------------------------ lifecycle
    def reap_orphans(self, live_uids: set[str]) -> None:
        """Kill what an earlier agent left running for pods that no longer exist.

        Containers of pods that still exist are adopted by their workers instead, so
        restarting the agent does not restart anyone's pods (as with a kubelet restart).
        """
        for pod_dir in self.pods_dir.iterdir():
            if pod_dir.name.rsplit("_", 1)[-1] in live_uids:
                continue
            for pidfile in pod_dir.glob("containers/*/pid"):
                try:
                    pid_s, started = pidfile.read_text().split()
                    if start_time(int(pid_s)) == started:
                        os.killpg(int(pid_s), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
                pidfile.unlink(missing_ok=True)
            nsfile = pod_dir / "netns"
            if nsfile.exists():
                PodNetwork.teardown(nsfile.read_text().strip())
                nsfile.unlink(missing_ok=True)
            (pod_dir / "sandbox.json").unlink(missing_ok=True)

    def _start_services(self) -> None:
        Provisioner(self.kube, root=self.cfg.state_dir / "volumes", stop=self.stop).start()
        self.services = ServiceProxy(
            self.kube,
            bridge=self.cfg.bridge,
            dns_address=self.cfg.bridge_ip,
            service_cidr=self.cfg.service_cidr,
            apiserver=(self.cfg.apiserver_host, self.cfg.apiserver_port),
            stop=self.stop,
        )
        self.services.start()

    def run_services_only(self) -> None:
        """Beside a real kubelet (hack/localcluster/realnode.py): what a kube-proxy, CoreDNS
        and a provisioner would do, kept on this cluster's bridge; the kubelet runs the pods."""
        self.network.ensure_bridge()
        self._start_services()
        log.info("services for node %s on bridge %s", self.cfg.node_name, self.cfg.bridge)
        self.stop.wait()
        self.services.join(3)

    def run(self) -> None:
        self.network.ensure_bridge()
        heartbeat = NodeHeartbeat(
            self.kube,
            name=self.cfg.node_name,
            address=self.cfg.bridge_ip,
            pod_cidr=self.cfg.pod_cidr,
            kubelet_port=self.cfg.kubelet_port,
            version=self.cfg.kubernetes_version,
            stop=self.stop,
        )
        heartbeat.register()
        heartbeat.start()
        self._start_services()
        serve(
            address=self.cfg.bridge_ip,
            port=self.cfg.kubelet_port,
            pki=self.cfg.pki_dir,
            locate=self.locate_log,
        )
        watcher = threading.Thread(
            target=self.kube.list_watch,
            name="pod-watch",
            daemon=True,
            args=("/api/v1/pods", self.on_pod),
            kwargs={
                "params": {"fieldSelector": f"spec.nodeName={self.cfg.node_name}"},
                "stop": self.stop.is_set,
                "on_sync": self.on_sync,
            },
        )
        watcher.start()
        log.info(
            "node %s ready: pods on %s via bridge %s",
            self.cfg.node_name,
            self.cfg.pod_cidr,
            self.cfg.bridge,
        )
        self.stop.wait()
        self.shutdown()

    def shutdown(self) -> None:
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.shutdown()
        for worker in workers:
            worker.join(10)
        if getattr(self, "services", None):
            self.services.join(3)
