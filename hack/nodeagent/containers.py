"""A pod's containers: start them, adopt those an earlier agent left, reap and stop them.

A mixin of nodeagent.runtime.PodWorker (the attributes it uses are the worker's, set in its
__init__): the worker's loop decides *when*, this module does the process work — plan the
container, launch its shim, record its exit as a container runtime reports it, and stop it
SIGTERM -> grace -> SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from nodeagent import status as st
from nodeagent.kube import ApiError
from nodeagent.plan import ConfigError, container_env, plan_container, service_env
from nodeagent.process import Process, now_iso, start_time
from nodeagent.volumes import ensure_subpaths, fetch_lookups

if TYPE_CHECKING:
    from nodeagent.host import Host

log = logging.getLogger("nodeagent.runtime")
LAUNCHER = Path(__file__).with_name("launch.py")
MAX_MESSAGE = 4096


class Probe:
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


class ContainerLifecycle:
    """The container half of a PodWorker."""

    agent: Host
    dir: Path
    uid: str
    namespace: str
    pod_name: str
    specs: dict[str, dict]
    init_runs: list[st.ContainerRun]
    runs: list[st.ContainerRun]
    procs: dict[str, Process]
    restart_at: dict[str, float]
    probes: dict[str, dict[str, Probe]]
    netns: str | None
    ip: str | None
    volume_paths: dict[str, str] | None
    start_time: str
    started_mono: float
    stopping: bool
    _ip_held: bool
    _gone: bool

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
            ensure_subpaths(spec, self.volume_paths or {}, env)
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
        except (ConfigError, ApiError, OSError) as err:
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
        started = start_time(proc.pid)
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
            k: Probe(spec[k], mono)
            for k in ("startupProbe", "readinessProbe", "livenessProbe")
            if k in spec
        }
        if run.name in (r.name for r in self.init_runs):
            run.ready = False
        self._save_container(run)
        self.agent.event(self.pod, "Normal", "Started", f"Started container {run.name}")

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
                k: Probe(spec[k], now - 3600)
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

