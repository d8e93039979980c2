"""A container's shim process, and reading the facts /proc keeps about it.

Shared by the pod worker (modelpilot's local node agent, nodeagent.runtime) and the agent
itself (which finds orphans by their start time); it imports neither.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def start_time(pid: int) -> str | None:
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
