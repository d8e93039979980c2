"""Exec one container inside its pod's namespaces: `python -I -S launch.py PLAN.json`.

Runs between fork and the container's command, so it uses the standard library only and
starts fast. It joins the pod's network namespace, makes a private mount and UTS namespace,
bind-mounts the pod's volumes at their mountPaths (read-only ones remounted read-only), sets
the hostname to the pod name, and execs the command with the planned environment. If the
command cannot be executed it writes the reason to the plan's start-error file and exits 128,
which the agent reports as `StartError` (what containerd reports for the same mistake).

Mount points that do not exist yet are created on the host's filesystem (an empty directory
or file), since the pod shares the host's root filesystem.

After the set-up it stays as the container's shim (containerd-shim's role): it forks the
command, forwards termination signals to it, and writes the exit status to the plan's exit
file. The shim is what the agent starts and records, so a restarted agent can adopt running
containers and still learn how they ended.
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWNET = 0x00020000, 0x04000000, 0x40000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, flags, label=None):
    _check(
        libc.mount(source and source.encode(), target.encode(), None, flags, None),
        f"mount {label or source} on {target}",
    )


def _fail(plan: dict, message: str) -> None:
    try:
        with open(plan["start_error_file"], "w") as out:
            out.write(message)
    finally:
        print(f"nodeagent: {message}", file=sys.stderr, flush=True)
        os._exit(128)


def main() -> None:
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    try:
        if plan["netns"]:
            fd = os.open(f"/var/run/netns/{plan['netns']}", os.O_RDONLY)
            _check(libc.setns(fd, CLONE_NEWNET), "setns")
            os.close(fd)
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
        _mount(None, "/", MS_REC | MS_PRIVATE)
        # Open every source before the first mount: a later source below an earlier target
        # (the project under /tmp, behind the pod's private /tmp) must still be the host's.
        sources = [(m, os.open(m["source"], os.O_PATH)) for m in plan["mounts"]]
        for m, fd in sources:
            target = m["target"]
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if not os.path.exists(target):
                    open(target, "a").close()
            _mount(f"/proc/self/fd/{fd}", target, MS_BIND | MS_REC, label=m["source"])
            os.close(fd)
            if m["read_only"]:
                _mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)
        socket.sethostname(plan["hostname"])
    except OSError as err:
        _fail(plan, f"cannot set up the pod sandbox: {err}")
    env = dict(plan["env"])
    argv = plan["argv"]
    try:
        os.chdir(plan["cwd"])
    except OSError as err:
        _fail(plan, f"cannot change to workingDir {plan['cwd']!r}: {err.strerror}")
    exe = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env.get("PATH", ""))
    if exe is None:
        _fail(plan, f'exec: "{argv[0]}": executable file not found in $PATH')
    child = os.fork()
    if child == 0:
        try:
            os.execve(exe, argv, env)
        except OSError as err:
            _fail(plan, f'exec: "{argv[0]}": {err.strerror}')
    for sig in (
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
    ):
        signal.signal(sig, lambda signum, _frame: os.kill(child, signum))
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)  # negative: killed by that signal
    with open(plan["exit_file"], "w") as out:
        out.write(str(code))
    os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
