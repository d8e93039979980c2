"""One thread per pod: sandbox, volumes, containers, probes, status, termination.

The worker is level-triggered on its own records: every tick it reaps exited processes,
starts what should run (init containers in order, then the rest, restarts after back-off),
runs due probes, and patches the pod status when the computed status changed. Deletion
(graceful or forced) and activeDeadlineSeconds stop the containers SIGTERM -> grace -> SIGKILL;
after a graceful deletion the worker confirms it with a delete of grace 0, as the kubelet does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nodeagent import status as st
from nodeagent.kube import ApiError, pod_path
from nodeagent.network import NetworkError
from nodeagent.plan import (
    SA_MOUNT,
    ConfigError,
    container_env,
    etc_hosts,
    plan_container,
    resolv_conf,
    service_env,
)
from nodeagent.probes import run_probe
from nodeagent.volumes import VolumeNotReady, fetch_lookups

if TYPE_CHECKING:
    from nodeagent.agent import Agent

log = logging.getLogger(__name__)
LAUNCHER = Path(__file__).with_name("launch.py")
MAX_MESSAGE = 4096
TICK = 0.1


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


class Process:
    """A container's shim process: started by this agent, or adopted from an earlier one.

    The shim writes the container's exit status to `exit_file`; for an adopted shim (not our
    child) that file is the only way to learn it. A shim that died without writing it was
    killed, and counts as SIGKILL.
    """

    def __init__(
        self, pid: int, started: str | None, exit_file: Path, popen: subprocess.Popen | None = None
    ):
        self.pid, self.started, self.exit_file, self.popen = pid, started, exit_file, popen

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        stat = _stat(self.pid)
        return stat is not None and stat[19] == self.started and stat[0] != "Z"

    def poll(self) -> int | None:
        if self.alive():
            return None
        try:
            return int(self.exit_file.read_text())
        except (OSError, ValueError):
            return self.popen.returncode if self.popen is not None else -signal.SIGKILL

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


class _Probe:
    """Counters of one probe of one container."""

    def __init__(self, spec: dict, started: float):
        self.spec = spec
        self.next_at = started + float(spec.get("initialDelaySeconds", 0))
        self.successes = 0
        self.failures = 0

    def record(self, ok: bool, now: float) -> None:
        self.next_at = now + float(self.spec.get("periodSeconds", 10))
        if ok:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1

    @property
    def passed(self) -> bool:
        return self.successes >= int(self.spec.get("successThreshold", 1))

    @property
    def failed(self) -> bool:
        return self.failures >= int(self.spec.get("failureThreshold", 3))


class PodWorker(threading.Thread):
    def __init__(self, agent: Agent, pod: dict):
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
        self.probes: dict[str, dict[str, _Probe]] = {}
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

    # ------------------------------------------------------------------ containers
    def _container_dir(self, name: str) -> Path:
        return self.dir / "containers" / name

    def log_path(self, name: str, restart: int) -> Path:
        return self._container_dir(name) / f"{restart}.log"

    def _start_due(self) -> None:
        now = time.monotonic()
        for run in self.init_runs:
            if run.state == st.TERMINATED and run.exit_code == 0:
                continue
            if (
                run.name not in self.procs
                and run.state == st.WAITING
                and now >= self.restart_at.get(run.name, 0)
            ):
                self._start(run)
            return  # init containers run one at a time, in order
        for run in self.runs:
            if run.name in self.procs or run.state != st.WAITING:
                continue
            if now >= self.restart_at.get(run.name, 0):
                self._start(run)

    def _start(self, run: st.ContainerRun) -> None:
        spec = self.specs[run.name]
        cdir = self._container_dir(run.name)
        cdir.mkdir(parents=True, exist_ok=True)
        try:
            lookups = fetch_lookups(self.agent.kube, self.pod)
            pod = self._pod_with_status()
            base = {
                "PATH": f"{self.agent.cfg.venv_bin}:/usr/local/sbin:/usr/local/bin:"
                "/usr/sbin:/usr/bin:/sbin:/bin",
                "HOSTNAME": self.pod_name,
                "HOME": "/root",
                "LANG": "C.UTF-8",
                "PYTHONUNBUFFERED": "1",
                "VIRTUAL_ENV": str(Path(self.agent.cfg.venv_bin).parent),
                **service_env(self.agent.cfg.apiserver_host, self.agent.cfg.apiserver_port),
            }
            env = container_env(pod, spec, lookups, base)
            plan = plan_container(
                pod,
                spec,
                env=env,
                volume_paths=self.volume_paths or {},
                container_dir=str(cdir),
                pod_tmp=str(self.dir / "tmp"),
                netns=self.netns,
                entrypoints=self.agent.entrypoints,
                default_cwd=str(self.dir / "tmp"),
                host_paths=self.agent.image_paths,
                etc_files={}
                if self.pod["spec"].get("hostNetwork")
                else {
                    "/etc/hosts": str(self.dir / "etc-hosts"),
                    "/etc/resolv.conf": str(self.dir / "resolv.conf"),
                },
            )
        except (ConfigError, ApiError) as err:
            run.reason = getattr(err, "reason", "CreateContainerConfigError")
            run.message = str(err)
            self.restart_at[run.name] = time.monotonic() + 2
            self.agent.event(self.pod, "Warning", "Failed", f"Error: {err}", once=True)
            return
        if run.last_terminated is not None and run.started_at is not None:
            run.restart_count += 1
        (cdir / "termination-log").write_text("")
        (cdir / "start-error").unlink(missing_ok=True)
        (cdir / "exit").unlink(missing_ok=True)
        plan_file = cdir / "plan.json"
        plan_file.write_text(plan.to_json())
        logf = open(self.log_path(run.name, run.restart_count), "ab")  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                [self.agent.cfg.python, "-I", "-S", str(LAUNCHER), str(plan_file)],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env={},
            )
        finally:
            logf.close()
        started = _start_time(proc.pid)
        (cdir / "pid").write_text(f"{proc.pid} {started}\n")
        self.procs[run.name] = Process(proc.pid, started, cdir / "exit", popen=proc)
        run.pid = proc.pid
        run.state, run.reason, run.message = st.RUNNING, "", ""
        run.started_at = now_iso()
        run.container_id = f"nodeagent://{self.uid}/{run.name}/{run.restart_count}"
        has_startup = "startupProbe" in spec
        run.started = not has_startup
        run.ready = "readinessProbe" not in spec and not has_startup
        mono = time.monotonic()
        self.probes[run.name] = {
            k: _Probe(spec[k], mono)
            for k in ("startupProbe", "readinessProbe", "livenessProbe")
            if k in spec
        }
        if run.name in (r.name for r in self.init_runs):
            run.ready = False
        self._save_container(run)
        self.agent.event(self.pod, "Normal", "Started", f"Started container {run.name}")

    # ------------------------------------------------------------------ adoption
    def _save_sandbox(self) -> None:
        state = {
            "netns": self.netns,
            "ip": self.ip,
            "startTime": self.start_time,
            "startedEpoch": time.time() - (time.monotonic() - self.started_mono),
        }
        (self.dir / "sandbox.json").write_text(json.dumps(state))

    def _save_container(self, run: st.ContainerRun) -> None:
        proc = self.procs[run.name]
        state = {
            "pid": proc.pid,
            "started": proc.started,
            "startedAt": run.started_at,
            "restartCount": run.restart_count,
            "containerID": run.container_id,
            "lastTerminated": run.last_terminated,
        }
        (self._container_dir(run.name) / "state.json").write_text(json.dumps(state))

    def _adopt(self) -> None:
        """Take over the sandbox and containers an earlier agent left running for this pod."""
        try:
            sandbox = json.loads((self.dir / "sandbox.json").read_text())
        except (OSError, ValueError):
            return
        if sandbox.get("netns") and not Path(f"/var/run/netns/{sandbox['netns']}").exists():
            return  # its network is gone (cluster-down swept it): start afresh
        self.netns, self.ip = sandbox.get("netns"), sandbox.get("ip")
        if self.netns and self.ip:
            self.agent.network.claim(self.ip)
            self._ip_held = True
        self.start_time = sandbox.get("startTime", self.start_time)
        self.started_mono = time.monotonic() - (
            time.time() - sandbox.get("startedEpoch", time.time())
        )
        reported = {
            c["name"]: c for c in (self.pod.get("status") or {}).get("containerStatuses") or []
        }
        for run in self.init_runs + self.runs:
            cdir = self._container_dir(run.name)
            try:
                state = json.loads((cdir / "state.json").read_text())
            except (OSError, ValueError):
                continue
            proc = Process(state["pid"], state["started"], cdir / "exit")
            run.restart_count = state["restartCount"]
            run.container_id = state["containerID"]
            run.last_terminated = state.get("lastTerminated")
            run.started_at = state["startedAt"]
            run.pid = proc.pid
            run.state, run.reason, run.message = st.RUNNING, "", ""
            spec = self.specs[run.name]
            run.started = "startupProbe" not in spec or bool(
                reported.get(run.name, {}).get("started")
            )
            run.ready = bool(reported.get(run.name, {}).get("ready")) or (
                "readinessProbe" not in spec and run.started
            )
            self.procs[run.name] = proc  # reaped on the first tick if it ended meanwhile
            now = time.monotonic()
            self.probes[run.name] = {
                k: _Probe(spec[k], now - 3600)
                for k in ("startupProbe", "readinessProbe", "livenessProbe")
                if k in spec
            }
            for probe in self.probes[run.name].values():
                if run.ready:
                    probe.successes = int(probe.spec.get("successThreshold", 1))
        log.info(
            "adopted pod %s/%s (%d running containers)",
            self.namespace,
            self.pod_name,
            len(self.procs),
        )

    def _reap(self) -> None:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        for name, proc in list(self.procs.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del self.procs[name]
            # The container ends with its main process, as with a PID namespace.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            run = self.run_of(name)
            assert run is not None
            self._record_exit(run, rc)
            is_init = any(r.name == name for r in self.init_runs)
            restart = not self.stopping and st.should_restart(
                "OnFailure" if is_init and policy == "Always" else policy, run.exit_code or 0
            )
            if restart:
                run.last_terminated = run.terminated()
                delay = st.restart_backoff(run.restart_count)
                self.restart_at[name] = time.monotonic() + delay
                run.state = st.WAITING
                run.reason = "CrashLoopBackOff" if delay else "ContainerCreating"
                run.message = (
                    (
                        f"back-off {delay:.0f}s restarting failed container={name} "
                        f"pod={self.pod_name}"
                    )
                    if delay
                    else ""
                )
                run.exit_code = None
                if delay:
                    self.agent.event(self.pod, "Warning", "BackOff", run.message)

    def _record_exit(self, run: st.ContainerRun, returncode: int) -> None:
        cdir = self._container_dir(run.name)
        code, sig = st.exit_code_of(returncode)
        start_error = (cdir / "start-error").exists()
        message = ""
        if start_error:
            message = (cdir / "start-error").read_text(errors="replace")
        else:
            try:
                message = (cdir / "termination-log").read_text(errors="replace")[:MAX_MESSAGE]
            except OSError:
                message = ""
            policy = self.specs[run.name].get("terminationMessagePolicy", "File")
            if not message and code != 0 and policy == "FallbackToLogsOnError":
                lines = (
                    self.log_path(run.name, run.restart_count)
                    .read_text(errors="replace")
                    .splitlines()[-80:]
                )
                message = "\n".join(lines)[-2048:]
        run.state = st.TERMINATED
        run.exit_code, run.signal = code, sig
        run.reason = st.terminated_reason(code, start_error=start_error)
        run.message = message
        run.finished_at = now_iso()
        run.ready = False
        run.pid = None
        if start_error:
            self.agent.event(self.pod, "Warning", "Failed", message)

    def _stop_containers(self, names: list[str], grace: float, why: str = "") -> None:
        """SIGTERM the containers' main processes, SIGKILL their groups after `grace`."""
        procs = {n: self.procs[n] for n in names if n in self.procs}
        if not procs:
            return
        for name, proc in procs.items():
            if why:
                self.agent.event(self.pod, "Normal", "Killing", f"Stopping container {name}{why}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + max(grace, 0)
        while time.monotonic() < deadline and any(p.poll() is None for p in procs.values()):
            if self._gone and grace > 2:  # force-deleted meanwhile: no point waiting long
                deadline = min(deadline, time.monotonic() + 2)
            time.sleep(0.05)
        for proc in procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self._reap()

    def _stop_all(self, grace: float, why: str = "") -> None:
        self.stopping = True
        self._stop_containers(list(self.procs), grace, why)
        for run in self.init_runs + self.runs:
            if run.state != st.WAITING:
                continue
            # Waiting to (re)start: report it terminated so the pod reaches a terminal phase.
            if run.last_terminated:
                term = run.last_terminated
                run.exit_code, run.reason = term["exitCode"], term["reason"]
                run.started_at, run.finished_at = term["startedAt"], term["finishedAt"]
                run.message = term.get("message", "")
            else:
                run.exit_code, run.reason = 137, "ContainerStatusUnknown"
                run.message = "The container never started before the pod was stopped"
                run.finished_at = now_iso()
            run.state = st.TERMINATED

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
