"""A hollow node, kubemark-style: pods bound to it run no process, yet look real from the API.

`python -m nodeagent.hollow --kubeconfig K --node-name hollow-0` (PYTHONPATH=hack) registers
a Node with room for thousands of pods and plays its kubelet for scale benchmarks
(bench/operator_scale.py), where a real trainer and server per model would not fit:

- every pod turns Running and Ready at once (a fake pod IP, containers "running");
- a training pod (a container with MODELPILOT_OUTPUT in its env: the trainer's contract)
  ends Succeeded with the termination message the real trainer writes, for a real bundle
  placed in the pod's model store (the PVC's hostPath): the bundle is trained once per
  training spec by the real trainer (`python -m modelpilot.trainer`), kept in a cache
  directory, and hard-linked into each revision's directory, with the summary's revision
  set to the pod's;
- pods being deleted are confirmed deleted at once.

The operator cannot tell: it reads the same Job, pod and Deployment statuses and the same
termination message, and a serving pod answers the real server's health routes and /metrics
page at its pod IP (hollow_http.py: the IP on a link of its own on this machine, one shared
asyncio loop answering for every pod; `--no-http` turns this off, e.g. without CAP_NET_ADMIN).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nodeagent.hollow_http import HollowAddresses, HollowServers, metrics_page
from nodeagent.kube import ApiError, Kube, pod_path
from nodeagent.node import NodeHeartbeat

log = logging.getLogger("nodeagent.hollow")
ENV_OUTPUT = "MODELPILOT_OUTPUT"
ENV_REVISION = "MODELPILOT_REVISION"
ENV_SPEC_JSON = "MODELPILOT_SPEC_JSON"
TRAINING_SECONDS = 0.5  # how long a hollow training "runs" before it succeeds


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def env_of(container: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env") or []}


def arg_of(container: Mapping[str, Any], flag: str) -> str | None:
    args = list(container.get("args") or [])
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def claim_path(
    path: str, container: Mapping[str, Any], volumes: list[Mapping[str, Any]]
) -> tuple[str, str] | None:
    """(claim name, path below the claim's root) of `path` inside the container, through the
    mount that holds it (its subPath included); None when no claim's mount holds it."""
    for mount in container.get("volumeMounts") or []:
        mount_path = mount["mountPath"].rstrip("/")
        if path != mount_path and not path.startswith(mount_path + "/"):
            continue
        volume = next((v for v in volumes if v["name"] == mount["name"]), {})
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is None:
            return None
        below = "/".join(
            p
            for p in (mount.get("subPath", "").strip("/"), path[len(mount_path) :].strip("/"))
            if p
        )
        return claim, below
    return None


def http_ports(container: Mapping[str, Any]) -> list[int]:
    """The container's ports that speak HTTP/1.1 (gRPC's is left closed)."""
    return [
        int(p["containerPort"])
        for p in container.get("ports") or []
        if p.get("name") != "grpc" and p.get("protocol", "TCP") == "TCP"
    ]


class BundleCache:
    """One real bundle per training spec, trained once by the real trainer."""

    def __init__(self, root: Path, python: str) -> None:
        self.root = root
        self.python = python
        self._lock = threading.Lock()

    def get(self, spec_json: str, allowlist: str) -> tuple[Path, dict[str, Any]]:
        key = hashlib.sha256(spec_json.encode()).hexdigest()[:16]
        entry = self.root / key
        with self._lock:
            if not (entry / "summary.json").exists():
                self._train(entry, spec_json, allowlist)
        return entry / "bundle", json.loads((entry / "summary.json").read_text())

    def _train(self, entry: Path, spec_json: str, allowlist: str) -> None:
        log.info("training the shared bundle for spec %s once", entry.name)
        staging = Path(tempfile.mkdtemp(prefix="hollow-", dir=self.root.parent))
        termination = staging / "termination-log"
        env = {
            **os.environ,
            ENV_SPEC_JSON: spec_json,
            ENV_OUTPUT: str(staging / "bundle"),
            ENV_REVISION: "v1",
            "MODELPILOT_TERMINATION_LOG": str(termination),
            "MODELPILOT_MODEL_NAME": "hollow",
            "MODELPILOT_NAMESPACE": "hollow",
            "MODELPILOT_ESTIMATOR_ALLOWLIST": allowlist or "sklearn.*",
        }
        result = subprocess.run(
            [self.python, "-m", "modelpilot.trainer"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if result.returncode != 0 or not termination.exists():
            raise RuntimeError(f"the shared bundle did not train: {result.stderr[-2000:]}")
        (staging / "summary.json").write_text(termination.read_text())
        entry.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)


class HollowNode:
    def __init__(
        self,
        kube: Kube,
        *,
        name: str,
        bundles: BundleCache,
        pod_cidr: str,
        servers: HollowServers | None = None,
        addresses: HollowAddresses | None = None,
    ) -> None:
        self.kube, self.name, self.bundles = kube, name, bundles
        self.servers, self.addresses = servers, addresses
        self._ips: dict[str, str] = {}  # pod uid -> the IP a server answers on
        prefix = pod_cidr.split("/")[0].rsplit(".", 2)[0]  # 10.245.0.0/16 -> 10.245
        self._ip_prefix = prefix
        self._next_ip = 1
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self._store_of: dict[tuple[str, str], Path] = {}

    def _ip(self) -> str:
        with self._lock:
            n = self._next_ip
            self._next_ip += 1
        return f"{self._ip_prefix}.{n // 250 % 250}.{n % 250 + 1}"

    def on_pod(self, kind: str, pod: dict) -> None:
        meta = pod["metadata"]
        if kind == "DELETED":
            self._seen.discard(meta["uid"])
            self._stop_serving(meta["uid"])
            return
        if meta.get("deletionTimestamp"):
            self._stop_serving(meta["uid"])
            self._confirm_deletion(pod)
            return
        phase = (pod.get("status") or {}).get("phase")
        if meta["uid"] in self._seen or phase in ("Succeeded", "Failed"):
            return
        self._seen.add(meta["uid"])
        if phase == "Running":  # started by an earlier hollow node: answer for it again
            ip = (pod.get("status") or {}).get("podIP")
            if ip:
                threading.Thread(target=self._serve, args=(pod, ip), daemon=True).start()
            return
        threading.Thread(target=self._run, args=(pod,), daemon=True).start()

    def on_sync(self, pods: list[dict]) -> None:
        for pod in pods:
            self.on_pod("ADDED", pod)

    def _run(self, pod: dict) -> None:
        try:
            (container,) = pod["spec"]["containers"][:1]
            env = env_of(container)
            ip = self._ip()
            if ENV_OUTPUT not in env:
                self._serve(pod, ip)  # answering before the pod IP is announced
            self._start(pod, ip)
            if ENV_OUTPUT in env:
                time.sleep(TRAINING_SECONDS)
                self._finish_training(pod, container, env)
        except Exception:
            log.exception("hollow pod %s/%s", pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _status_patch(self, pod: dict, status: dict) -> None:
        meta = pod["metadata"]
        try:
            self.kube.merge_patch(
                pod_path(meta["namespace"], meta["name"], "status"), {"status": status}
            )
        except ApiError as err:
            if err.status != 404:
                raise

    def _serve(self, pod: dict, ip: str) -> None:
        """Answer the health routes and /metrics on the pod's IP, as its server would."""
        if self.servers is None or self.addresses is None:
            return
        container = pod["spec"]["containers"][0]
        ports = http_ports(container)
        if not ports:
            return
        model = arg_of(container, "--model-name") or pod["metadata"]["name"]
        version = arg_of(container, "--model-version") or ""
        task, classes = "classification", None
        model_dir = arg_of(container, "--model-dir")
        bundle = None if model_dir is None else self._host_path(pod, container, model_dir)
        try:
            if bundle is not None:
                metadata = json.loads((bundle / "metadata.json").read_text())
                task, classes = metadata["task"], metadata.get("classes")
        except (OSError, ValueError, KeyError) as exc:
            log.warning(
                "%s: no bundle metadata (%s); a classifier's page without classes",
                pod["metadata"]["name"],
                exc,
            )
        page = metrics_page(model, version, task=task, classes=classes)
        self.addresses.add(ip)
        self._ips[pod["metadata"]["uid"]] = ip
        for port in ports:
            self.servers.open(ip, port, page)

    def _stop_serving(self, uid: str) -> None:
        ip = self._ips.pop(uid, None)
        if ip is not None and self.servers is not None and self.addresses is not None:
            self.servers.close(ip)
            self.addresses.remove(ip)

    def _start(self, pod: dict, ip: str) -> None:
        now = _now()
        ready = [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        containers = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for c in pod["spec"]["containers"]
        ]
        self._status_patch(
            pod,
            {
                "phase": "Running",
                "hostIP": "10.244.0.1",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": now,
                "conditions": ready,
                "containerStatuses": containers,
            },
        )

    def _finish_training(self, pod: dict, container: dict, env: dict[str, str]) -> None:
        bundle, summary = self.bundles.get(
            env[ENV_SPEC_JSON], env.get("MODELPILOT_ESTIMATOR_ALLOWLIST", "")
        )
        summary = {**summary, "revision": env.get(ENV_REVISION, summary.get("revision"))}
        target = self._host_path(pod, container, env[ENV_OUTPUT])
        if target is not None:
            target.mkdir(parents=True, exist_ok=True)
            for item in bundle.iterdir():
                dest = target / item.name
                if not dest.exists():
                    try:
                        os.link(item, dest)
                    except OSError:
                        shutil.copy2(item, dest)
        now = _now()
        done = [
            {
                "type": t,
                "status": "False" if t in ("Ready", "ContainersReady") else "True",
                "reason": "PodCompleted",
                "lastTransitionTime": now,
            }
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        self._status_patch(
            pod,
            {
                "phase": "Succeeded",
                "conditions": done,
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "image": container.get("image", ""),
                        "imageID": "",
                        "ready": False,
                        "started": False,
                        "restartCount": 0,
                        "state": {
                            "terminated": {
                                "exitCode": 0,
                                "reason": "Completed",
                                "message": json.dumps(summary, separators=(",", ":")),
                                "startedAt": now,
                                "finishedAt": now,
                            }
                        },
                    }
                ],
            },
        )

    def _host_path(self, pod: dict, container: dict, path: str) -> Path | None:
        """Where `path` inside the pod lies on this machine, below the PVC's hostPath."""
        ns = pod["metadata"]["namespace"]
        found = claim_path(path, container, pod["spec"].get("volumes") or [])
        if found is None:
            return None
        claim, below = found
        root = self._store_of.get((ns, claim))
        if root is None:
            pvc = self.kube.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}")
            pv = self.kube.get(f"/api/v1/persistentvolumes/{pvc['spec']['volumeName']}")
            root = self._store_of[(ns, claim)] = Path(pv["spec"]["hostPath"]["path"])
        return root / below if below else root

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nodeagent.hollow", description=__doc__.splitlines()[0])
    p.add_argument("--kubeconfig", type=Path, required=True)
    p.add_argument("--node-name", default="hollow-0")
    p.add_argument("--pod-cidr", default="10.245.0.0/16")
    p.add_argument("--pods", default="5000", help="pod capacity")
    p.add_argument(
        "--link",
        default=None,
        help="link holding the serving pods' IPs (default mph-NODE, cut to 15)",
    )
    p.add_argument(
        "--no-http",
        action="store_true",
        help="serving pods answer no HTTP (no link of its own, no CAP_NET_ADMIN needed)",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("MODELPILOT_CACHE", Path.home() / ".cache" / "modelpilot"))
        / "hollow-bundles",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    kube = Kube(args.kubeconfig)
    servers = addresses = None
    if not args.no_http:
        addresses = HollowAddresses(args.link or f"mph-{args.node_name}"[:15])
        addresses.ensure()
        servers = HollowServers()
    node = HollowNode(
        kube,
        name=args.node_name,
        bundles=BundleCache(args.cache_dir, sys.executable),
        pod_cidr=args.pod_cidr,
        servers=servers,
        addresses=addresses,
    )
    signal.signal(signal.SIGTERM, lambda *_: node.stop.set())
    signal.signal(signal.SIGINT, lambda *_: node.stop.set())
    heartbeat = NodeHeartbeat(
        kube,
        name=args.node_name,
        address="10.244.0.1",
        pod_cidr=args.pod_cidr,
        kubelet_port=10250,
        version=os.environ.get("KUBERNETES_VERSION", "v1.37.2"),
        stop=node.stop,
    )
    heartbeat.capacity.update(cpu="1000", memory="4000Gi", pods=args.pods)
    heartbeat.register()
    heartbeat.start()
    threading.Thread(
        target=kube.list_watch,
        name="pod-watch",
        daemon=True,
        args=("/api/v1/pods", node.on_pod),
        kwargs={
            "params": {"fieldSelector": f"spec.nodeName={args.node_name}"},
            "stop": node.stop.is_set,
            "on_sync": node.on_sync,
        },
    ).start()
    log.info("hollow node %s ready", args.node_name)
    node.stop.wait()
    if servers is not None and addresses is not None:
        servers.shutdown()
        addresses.close()  # its addresses go with it
    return 0


if __name__ == "__main__":
    sys.exit(main())
