"""Process exits -> container and pod status, as a kubelet reports them.

Pure: `ContainerRun` is the worker's record of one container; the functions here turn records
into the API's `containerStatuses`, `phase` and `conditions`, decide restarts and back-off.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

RUNNING, WAITING, TERMINATED = "running", "waiting", "terminated"


@dataclass
class ContainerRun:
    """What the agent knows about one container of a pod (mutated by the pod's worker only)."""

    name: str
    image: str = ""
    state: str = WAITING
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    container_id: str = ""
    last_terminated: dict | None = None
    pid: int | None = None
    extra: dict = field(default_factory=dict)

    def terminated(self) -> dict:
        out = {
            "exitCode": self.exit_code if self.exit_code is not None else 0,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": self.container_id,
        }
        if self.signal:
            out["signal"] = self.signal
        if self.message:
            out["message"] = self.message
        return out


def exit_code_of(returncode: int) -> tuple[int, int | None]:
    """Popen's returncode -> (exit code as a container runtime reports it, signal or None)."""
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, None


def terminated_reason(exit_code: int, *, start_error: bool = False, deadline: bool = False) -> str:
    if start_error:
        return "StartError"
    if deadline:
        return "DeadlineExceeded"
    return "Completed" if exit_code == 0 else "Error"


def should_restart(restart_policy: str, exit_code: int) -> bool:
    if restart_policy == "Always":
        return True
    if restart_policy == "OnFailure":
        return exit_code != 0
    return False


def restart_backoff(restart_count: int, *, base: float = 2.0, cap: float = 60.0) -> float:
    """Seconds before restart number `restart_count` (1-based): base, 2*base, ... up to cap.

    Shorter than the kubelet's 10 s .. 300 s so crash loops show up within a test's patience.
    """
    if restart_count <= 0:
        return 0.0
    return min(cap, base * 2 ** (restart_count - 1))


def container_status(run: ContainerRun) -> dict:
    if run.state == RUNNING:
        state = {"running": {"startedAt": run.started_at}}
    elif run.state == TERMINATED:
        state = {"terminated": run.terminated()}
    else:
        waiting = {"reason": run.reason}
        if run.message:
            waiting["message"] = run.message
        state = {"waiting": waiting}
    out = {
        "name": run.name,
        "image": run.image,
        "imageID": "",
        "ready": run.ready,
        "started": run.state == RUNNING and run.started,
        "restartCount": run.restart_count,
        "state": state,
        "lastState": {"terminated": run.last_terminated} if run.last_terminated else {},
    }
    if run.container_id:
        out["containerID"] = run.container_id
    return out


def pod_phase(
    restart_policy: str,
    init_runs: Sequence[ContainerRun],
    runs: Sequence[ContainerRun],
    *,
    stopping: bool = False,
) -> str:
    """Pending / Running / Succeeded / Failed from the containers' states.

    `stopping` means the pod is being deleted or hit its deadline and nothing will be
    restarted any more: once every container has exited the phase is terminal.
    """
    for run in init_runs:
        if (
            run.state == TERMINATED
            and run.exit_code != 0
            and (stopping or not should_restart(restart_policy, run.exit_code or 1))
        ):
            return "Failed"
    init_done = all(r.state == TERMINATED and r.exit_code == 0 for r in init_runs)
    if not init_done:
        if stopping and all(r.state != RUNNING for r in init_runs):
            return "Failed"
        return "Pending"
    if all(r.state == TERMINATED for r in runs):
        restarting = not stopping and any(
            should_restart(restart_policy, r.exit_code or 0) for r in runs
        )
        if not restarting:
            return "Succeeded" if all(r.exit_code == 0 for r in runs) else "Failed"
        return "Running"
    if any(
        r.state in (RUNNING, TERMINATED) or r.restart_count > 0 or r.last_terminated for r in runs
    ):
        return "Running"
    return "Pending"


def merge_conditions(
    previous: Sequence[Mapping], desired: Mapping[str, tuple[bool, str]], now: str
) -> list[dict]:
    """Conditions for the pod: keep those the agent does not own (PodScheduled, DisruptionTarget
    ...), set the owned ones, and keep lastTransitionTime when a status did not change."""
    by_type = {c["type"]: c for c in previous}
    out = [dict(c) for c in previous if c["type"] not in desired]
    for ctype, (ok, reason) in desired.items():
        status = "True" if ok else "False"
        old = by_type.get(ctype)
        cond = {
            "type": ctype,
            "status": status,
            "lastTransitionTime": old["lastTransitionTime"]
            if old and old.get("status") == status and old.get("lastTransitionTime")
            else now,
            "lastProbeTime": None,
        }
        if reason and not ok:
            cond["reason"] = reason
        out.append(cond)
    return out


def owned_conditions(
    *,
    sandbox_ready: bool,
    init_runs: Sequence[ContainerRun],
    runs: Sequence[ContainerRun],
    phase: str,
) -> dict[str, tuple[bool, str]]:
    initialized = all(r.state == TERMINATED and r.exit_code == 0 for r in init_runs)
    containers_ready = bool(runs) and all(r.ready for r in runs)
    if phase == "Succeeded":
        # A completed pod is not Ready, but its init containers did complete.
        return {
            "PodReadyToStartContainers": (False, ""),
            "Initialized": (True, ""),
            "ContainersReady": (False, "PodCompleted"),
            "Ready": (False, "PodCompleted"),
        }
    reason = (
        "" if containers_ready else ("PodFailed" if phase == "Failed" else "ContainersNotReady")
    )
    return {
        "PodReadyToStartContainers": (sandbox_ready and phase not in ("Failed",), ""),
        "Initialized": (initialized, "ContainersNotInitialized"),
        "ContainersReady": (containers_ready, reason),
        "Ready": (containers_ready, reason),
    }


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)
