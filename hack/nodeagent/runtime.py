"""One thread per pod: sandbox, volumes, probes, status, termination; containers in
nodeagent.containers (a mixin), the shim process in nodeagent.process. The worker depends on
its agent only through the nodeagent.host Protocol, so agent -> runtime is the one direction.

The worker is level-triggered on its own records: every tick it reaps exited processes,
starts what should run (init containers in order, then the rest, restarts after back-off),
runs due probes, and patches the pod status when the computed status changed. Deletion
(graceful or forced) and activeDeadlineSeconds stop the containers SIGTERM -> grace -> SIGKILL;
after a graceful deletion the worker confirms it with a delete of grace 0, as the kubelet does.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from typing import TYPE_CHECKING

from nodeagent import status as st
from nodeagent.containers import ContainerLifecycle, Probe
from nodeagent.kube import ApiError, pod_path
from nodeagent.network import NetworkError
from nodeagent.plan import SA_MOUNT, ConfigError, etc_hosts, resolv_conf
from nodeagent.probes import run_probe
from nodeagent.process import Process, now_iso
from nodeagent.volumes import VolumeNotReady, fetch_lookups

if TYPE_CHECKING:
    from nodeagent.host import Host

log = logging.getLogger(__name__)
TICK = 0.1


class PodWorker(ContainerLifecycle, threading.Thread):
    def __init__(self, agent: Host, pod: dict):
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.agent = agent
        self.uid = meta["uid"]
        self.namespace, self.pod_name = meta["namespace"], meta["name"]
        self._pod = pod
        self._wake = threading.Event()
        self._gone = False  # the object no longer exists in the API
        self._shutdown = False  # the agent is stopping
        self.dir = agent.pods_dir / f"{self.namespace}_{self.pod_name}_{self.uid}"
        spec = pod["spec"]
        self.specs = {
            c["name"]: c
            for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
        }
        self.init_runs = [
            st.ContainerRun(c["name"], c.get("image", "")) for c in spec.get("initContainers") or []
        ]
        self.runs = [
            st.ContainerRun(c["name"], c.get("image", "")) for c in spec.get("containers") or []
        ]
        self.procs: dict[str, Process] = {}
        self.restart_at: dict[str, float] = {}
        self.probes: dict[str, dict[str, Probe]] = {}
        self.netns: str | None = None
        self.ip: str | None = None
        self.volume_paths: dict[str, str] | None = None
        self.sandbox_ready = False
        self.start_time = now_iso()
        self.started_mono = time.monotonic()
        self.stopping = False
        self.reason = self.message = ""
        self._last_status: dict | None = None
        self._last_conditions: list | None = None
        self._retry_at = 0.0
        self._ip_held = False

    # ------------------------------------------------------------------ inputs
    @property
    def pod(self) -> dict:
        return self._pod

    def update(self, pod: dict) -> None:
        self._pod = pod
        self._wake.set()

    def gone(self) -> None:
        self._gone = True
        self._wake.set()

    def shutdown(self) -> None:
        self._shutdown = True
        self._wake.set()

    def run_of(self, name: str) -> st.ContainerRun | None:
        return next((r for r in self.init_runs + self.runs if r.name == name), None)

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        try:
            self._loop()
        except Exception:
            log.exception("worker for %s/%s crashed", self.namespace, self.pod_name)
            self._stop_all(grace=1)
        finally:
            if not self._shutdown:
                self._teardown_sandbox()
            self.agent.forget(self.uid, self)

    def _loop(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._adopt()
        while True:
            if self._shutdown:
                return  # containers keep running; the next agent adopts them
            if self._gone or self.pod["metadata"].get("deletionTimestamp"):
                self._finalize()
                return
            phase = self._phase()
            if phase in ("Succeeded", "Failed"):
                self._push_status()
                if self.netns or self._ip_held:
                    self._teardown_sandbox()
                self._wake.wait(5)
                self._wake.clear()
                continue
            self._check_deadline()
            if not self.sandbox_ready:
                self._setup_sandbox()
            if self.sandbox_ready:
                self._reap()
                if not self.stopping:
                    self._start_due()
                    self._probe_due()
            self._push_status()
            self._wake.wait(TICK)
            self._wake.clear()

    def _phase(self) -> str:
        return st.pod_phase(
            self.pod["spec"].get("restartPolicy", "Always"),
            self.init_runs,
            self.runs,
            stopping=self.stopping,
        )

    # ------------------------------------------------------------------ sandbox
    def _setup_sandbox(self) -> None:
        if time.monotonic() < self._retry_at:
            return
        try:
            if self.netns is None and self.ip is None:
                if self.pod["spec"].get("hostNetwork"):
                    self.ip = self.agent.cfg.bridge_ip
                else:
                    self.netns, self.ip = self.agent.network.setup(self.uid)
                    self._ip_held = True
                    (self.dir / "netns").write_text(self.netns + "\n")
                self._save_sandbox()
            (self.dir / "tmp").mkdir(exist_ok=True)
            if not self.pod["spec"].get("hostNetwork"):
                (self.dir / "etc-hosts").write_text(
                    etc_hosts(
                        pod_name=self.pod_name,
                        pod_ip=self.ip or "",
                        host_aliases=self.pod["spec"].get("hostAliases"),
                    )
                )
                (self.dir / "resolv.conf").write_text(
                    resolv_conf(nameserver=self.agent.cfg.bridge_ip, namespace=self.namespace)
                )
            lookups = fetch_lookups(self.agent.kube, self.pod)
            self.volume_paths = self.agent.volumes.build(self.pod, self.dir, lookups)
            self.sandbox_ready = True
        except (VolumeNotReady, NetworkError, ApiError, ConfigError, OSError) as err:
            reason = getattr(err, "reason", "ContainerCreating")
            message = f"{err}"
            for run in self.init_runs + self.runs:
                if run.state == st.WAITING:
                    run.reason = reason if isinstance(err, ConfigError) else "ContainerCreating"
                    run.message = message
            if not isinstance(err, NetworkError):
                self.agent.event(self.pod, "Warning", "FailedMount", message, once=True)
            self._retry_at = time.monotonic() + 2

    def _teardown_sandbox(self) -> None:
        if self.netns:
            self.agent.network.teardown(self.netns)
            (self.dir / "netns").unlink(missing_ok=True)
            self.netns = None
        if self._ip_held:
            # The IP stays in the pod's status, as the kubelet's does; only the pool forgets it.
            self.agent.network.release(self.ip)
            self._ip_held = False

    # ------------------------------------------------------------------ adoption
    def _save_sandbox(self) -> None:
        state = {
            "netns": self.netns,
            "ip": self.ip,
            "startTime": self.start_time,
            "startedEpoch": time.time() - (time.monotonic() - self.started_mono),
        }
        (self.dir / "sandbox.json").write_text(json.dumps(state))

    def _grace(self) -> float:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        if self._gone:
            return 1.0
        value = meta.get("deletionGracePeriodSeconds")
        if value is None:
            value = spec.get("terminationGracePeriodSeconds", 30)
        return float(value)

    def _check_deadline(self) -> None:
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        if deadline is None or self.stopping:
            return
        if time.monotonic() - self.started_mono >= float(deadline):
            self.reason = "DeadlineExceeded"
            self.message = "Pod was active on the node longer than the specified deadline"
            self.agent.event(self.pod, "Normal", "DeadlineExceeded", self.message)
            self._stop_all(self._grace(), " (active deadline exceeded)")

    def _finalize(self) -> None:
        self._stop_all(self._grace(), "")
        if not self._gone:
            self._push_status()
            meta = self.pod["metadata"]
            try:
                self.agent.kube.delete(
                    pod_path(self.namespace, self.pod_name),
                    {
                        "apiVersion": "v1",
                        "kind": "DeleteOptions",
                        "gracePeriodSeconds": 0,
                        "preconditions": {"uid": meta["uid"]},
                    },
                )
            except ApiError as err:
                if err.status not in (404, 409):
                    log.warning(
                        "confirming deletion of %s/%s: %s", self.namespace, self.pod_name, err
                    )
        for sub in ("volumes", "tmp"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)

    # ------------------------------------------------------------------ probes
    def _probe_due(self) -> None:
        mono = time.monotonic()
        for run in self.runs:
            if run.state != st.RUNNING or run.name not in self.procs:
                continue
            probes = self.probes.get(run.name, {})
            spec = self.specs[run.name]
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = probes.get(kind)
                if probe is None or mono < probe.next_at:
                    continue
                if kind != "startupProbe" and not run.started:
                    continue
                if kind == "startupProbe" and run.started:
                    continue
                ok, msg = run_probe(
                    probe.spec, pod_ip=self.ip or "127.0.0.1", container=spec, pid=run.pid
                )
                probe.record(ok, time.monotonic())
                if not ok:
                    self.agent.event(
                        self.pod,
                        "Warning",
                        "Unhealthy",
                        f"{kind[:-5].capitalize()} probe failed: {msg}",
                    )
                if kind == "startupProbe":
                    if probe.passed:
                        run.started = True
                        run.ready = "readinessProbe" not in probes
                    elif probe.failed:
                        self._kill_unhealthy(run, "failed startup probe")
                        break
                elif kind == "livenessProbe" and probe.failed:
                    self._kill_unhealthy(run, "failed liveness probe")
                    break
                elif kind == "readinessProbe":
                    if probe.passed:
                        run.ready = True
                    elif probe.failed or not ok:
                        run.ready = run.ready and not probe.failed

    def _kill_unhealthy(self, run: st.ContainerRun, why: str) -> None:
        grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        self._stop_containers([run.name], float(grace), f" ({why}), will be restarted")

    # ------------------------------------------------------------------ status
    def _pod_with_status(self) -> dict:
        pod = dict(self.pod)
        status = dict(pod.get("status") or {})
        status["hostIP"] = self.agent.cfg.bridge_ip
        status["hostIPs"] = [{"ip": self.agent.cfg.bridge_ip}]
        if self.ip:
            status["podIP"], status["podIPs"] = self.ip, [{"ip": self.ip}]
        pod["status"] = status
        return pod

    def compute_status(self) -> dict:
        phase = self._phase()
        previous = self._last_conditions or (self.pod.get("status") or {}).get("conditions") or []
        owned = st.owned_conditions(
            sandbox_ready=self.sandbox_ready, init_runs=self.init_runs, runs=self.runs, phase=phase
        )
        conditions = st.merge_conditions(previous, owned, now_iso())
        status: dict = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": self.agent.cfg.bridge_ip,
            "hostIPs": [{"ip": self.agent.cfg.bridge_ip}],
            "startTime": self.start_time,
            "containerStatuses": [st.container_status(r) for r in self.runs],
        }
        if self.ip:
            status["podIP"], status["podIPs"] = self.ip, [{"ip": self.ip}]
        if self.init_runs:
            status["initContainerStatuses"] = [st.container_status(r) for r in self.init_runs]
        if self.reason:
            status["reason"], status["message"] = self.reason, self.message
        return status

    def _push_status(self) -> None:
        status = self.compute_status()
        if status == self._last_status or self._gone:
            return
        try:
            self.agent.kube.merge_patch(
                pod_path(self.namespace, self.pod_name, "status"), {"status": status}
            )
        except ApiError as err:
            if err.status == 404:
                self._gone = True
                return
            log.warning("status of %s/%s: %s", self.namespace, self.pod_name, err)
            return
        self._last_status = status
        self._last_conditions = status["conditions"]


def status_json(worker: PodWorker) -> str:  # handy when debugging a stuck pod
    return json.dumps(worker.compute_status(), indent=2)


__all__ = ["SA_MOUNT", "PodWorker", "status_json"]
