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
termination message. Serving pods answer no HTTP (their IPs are not routable): the operator
only scrapes pods during a canary's analysis, which a scale run does not start.
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
        result = subprocess.run([self.python, "-m", "modelpilot.trainer"], env=env,
                                capture_output=True, text=True, check=False, timeout=600)
        if result.returncode != 0 or not termination.exists():
            raise RuntimeError(f"the shared bundle did not train: {result.stderr[-2000:]}")
        (staging / "summary.json").write_text(termination.read_text())
        entry.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)


class HollowNode:
    def __init__(self, kube: Kube, *, name: str, bundles: BundleCache, pod_cidr: str) -> None:
        self.kube, self.name, self.bundles = kube, name, bundles
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
            return
        if meta.get("deletionTimestamp"):
            self._confirm_deletion(pod)
            return
        phase = (pod.get("status") or {}).get("phase")
        if meta["uid"] in self._seen or phase in ("Succeeded", "Failed", "Running"):
            return
        self._seen.add(meta["uid"])
        threading.Thread(target=self._run, args=(pod,), daemon=True).start()

    def on_sync(self, pods: list[dict]) -> None:
        for pod in pods:
            self.on_pod("ADDED", pod)

    def _run(self, pod: dict) -> None:
        try:
            self._start(pod)
            (container,) = pod["spec"]["containers"][:1]
            env = env_of(container)
            if ENV_OUTPUT in env:
                time.sleep(TRAINING_SECONDS)
                self._finish_training(pod, container, env)
        except Exception:
            log.exception("hollow pod %s/%s", pod["metadata"]["namespace"],
                          pod["metadata"]["name"])

    def _status_patch(self, pod: dict, status: dict) -> None:
        meta = pod["metadata"]
        try:
            self.kube.merge_patch(pod_path(meta["namespace"], meta["name"], "status"),
                                  {"status": status})
        except ApiError as err:
            if err.status != 404:
                raise

    def _start(self, pod: dict) -> None:
        now = _now()
        ready = [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        ip = self._ip()
        containers = [
            {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True,
             "started": True, "restartCount": 0, "state": {"running": {"startedAt": now}}}
            for c in pod["spec"]["containers"]
        ]
        self._status_patch(pod, {
            "phase": "Running", "hostIP": "10.244.0.1", "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": now, "conditions": ready, "containerStatuses": containers,
        })

    def _finish_training(self, pod: dict, container: dict, env: dict[str, str]) -> None:
        bundle, summary = self.bundles.get(env[ENV_SPEC_JSON],
                                           env.get("MODELPILOT_ESTIMATOR_ALLOWLIST", ""))
        summary = {**summary, "revision": env.get(ENV_REVISION, summary.get("revision"))}
        target = self._bundle_dir(pod, container, env[ENV_OUTPUT])
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
        done = [{"type": t, "status": "False" if t in ("Ready", "ContainersReady") else "True",
                 "reason": "PodCompleted", "lastTransitionTime": now}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
        self._status_patch(pod, {
            "phase": "Succeeded", "conditions": done,
            "containerStatuses": [{
                "name": container["name"], "image": container.get("image", ""), "imageID": "",
                "ready": False, "started": False, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                         "message": json.dumps(summary, separators=(",", ":")),
                                         "startedAt": now, "finishedAt": now}},
            }],
        })

    def _bundle_dir(self, pod: dict, container: dict, output: str) -> Path | None:
        """Where OUTPUT (a path inside the pod) lies on this machine: the PVC's hostPath."""
        ns = pod["metadata"]["namespace"]
        for mount in container.get("volumeMounts") or []:
            mount_path = mount["mountPath"].rstrip("/")
            if not output.startswith(mount_path + "/"):
                continue
            volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim is None:
                return None
            root = self._store_of.get((ns, claim))
            if root is None:
                pvc = self.kube.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}")
                pv = self.kube.get(f"/api/v1/persistentvolumes/{pvc['spec']['volumeName']}")
                root = self._store_of[(ns, claim)] = Path(pv["spec"]["hostPath"]["path"])
            return root / output[len(mount_path) + 1:]
        return None

    def _confirm_deletion(self, pod: dict) -> None:
        meta = pod["metadata"]
        try:
            self.kube.delete(pod_path(meta["namespace"], meta["name"]),
                             {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})
        except ApiError as err:
            if err.status not in (404, 409):
                log.warning("deleting %s/%s: %s", meta["namespace"], meta["name"], err)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nodeagent.hollow", description=__doc__.splitlines()[0])
    p.add_argument("--kubeconfig", type=Path, required=True)
    p.add_argument("--node-name", default="hollow-0")
    p.add_argument("--pod-cidr", default="10.245.0.0/16")
    p.add_argument("--pods", default="5000", help="pod capacity")
    p.add_argument("--cache-dir", type=Path,
                   default=Path(os.environ.get("MODELPILOT_CACHE",
                                               Path.home() / ".cache" / "modelpilot"))
                   / "hollow-bundles")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    kube = Kube(args.kubeconfig)
    node = HollowNode(kube, name=args.node_name, bundles=BundleCache(args.cache_dir,
                      sys.executable), pod_cidr=args.pod_cidr)
    signal.signal(signal.SIGTERM, lambda *_: node.stop.set())
    signal.signal(signal.SIGINT, lambda *_: node.stop.set())
    heartbeat = NodeHeartbeat(kube, name=args.node_name, address="10.244.0.1",
                              pod_cidr=args.pod_cidr, kubelet_port=10250,
                              version=os.environ.get("KUBERNETES_VERSION", "v1.37.2"),
                              stop=node.stop)
    heartbeat.capacity.update(cpu="1000", memory="4000Gi", pods=args.pods)
    heartbeat.register()
    heartbeat.start()
    threading.Thread(
        target=kube.list_watch, name="pod-watch", daemon=True,
        args=("/api/v1/pods", node.on_pod),
        kwargs={"params": {"fieldSelector": f"spec.nodeName={args.node_name}"},
                "stop": node.stop.is_set, "on_sync": node.on_sync},
    ).start()
    log.info("hollow node %s ready", args.node_name)
    node.stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
