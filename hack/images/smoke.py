"""Run each built image once outside Kubernetes, with runc, as the cluster will run it.

Every container runs as UID/GID 65532 with a read-only root filesystem, no capabilities and
no_new_privileges (what the chart's securityContext asks for), in its own PID/mount/IPC/UTS
namespaces; it shares this host's network namespace and listens on 127.0.0.1 only.

- trainer: `modelpilot train` fits iris and writes a bundle into a bind-mounted store;
- serving: `modelpilot serve` loads that bundle (digest checked) and answers a KServe V1
  predict and an Open Inference (V2) infer; a write to / inside it fails;
- operator: `modelpilot operator --help` prints its usage.

Usage (root; buildah and the built runc): python3 hack/images/smoke.py RUNC
Only the standard library: it runs before any virtualenv exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

UID = 65532
SPEC = {
    "training": {
        "dataset": {"builtin": "iris"},
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 500},
        "testSize": 0.3,
    },
    "evaluation": {"metric": "accuracy", "threshold": 0.8},
}


class SmokeError(RuntimeError):
    pass


def sh(*argv: str, **kw) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    if res.returncode != 0:
        raise SmokeError(f"{' '.join(argv)}: exit {res.returncode}\n{res.stdout}{res.stderr}")
    return res.stdout


def image_config(image: str) -> dict:
    raw = json.loads(sh("buildah", "inspect", "--type", "image", image))
    return raw["OCIv1"]["config"]


def spec(*, rootfs: str, args: list[str], env: list[str], cwd: str, store: Path) -> dict:
    """An OCI runtime spec: the securityContext the chart sets, enforced by runc."""
    return {
        "ociVersion": "1.2.0",
        "process": {
            "terminal": False,
            "user": {"uid": UID, "gid": UID},
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": [], "effective": [], "permitted": []},
            "noNewPrivileges": True,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096}],
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "smoke",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            # As the chart mounts an emptyDir there: the one writable scratch place.
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/store",
                "type": "bind",
                "source": str(store),
                "options": ["rbind", "rw"],
            },
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }


class Container:
    """One image mounted by buildah and run by runc in a bundle directory."""

    def __init__(self, runc: str, image: str, work: Path, store: Path):
        self.runc, self.image, self.store = runc, image, store
        self.id = f"mp-smoke-{image.split('/')[-1].split(':')[0]}-{os.getpid()}"
        self.bundle = work / self.id
        self.bundle.mkdir()
        self.cfg = image_config(image)
        self.working = sh("buildah", "from", "--pull-never", image).strip()
        self.rootfs = sh("buildah", "mount", self.working).strip()

    def write_spec(self, args: list[str], entrypoint: list[str] | None = None) -> None:
        argv = [*(entrypoint or self.cfg.get("Entrypoint", [])), *args]
        env = self.cfg.get("Env", [])
        doc = spec(
            rootfs=self.rootfs,
            args=argv,
            env=env,
            cwd=self.cfg.get("WorkingDir") or "/",
            store=self.store,
        )
        (self.bundle / "config.json").write_text(json.dumps(doc))

    def run(
        self, args: list[str], timeout: float = 300, entrypoint: list[str] | None = None
    ) -> subprocess.CompletedProcess:
        self.write_spec(args, entrypoint)
        return subprocess.run(
            [self.runc, "run", "--bundle", str(self.bundle), self.id],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, args: list[str]) -> None:
        self.write_spec(args)
        log = open(self.bundle / "out.log", "wb")  # noqa: SIM115 - handed to runc
        res = subprocess.run(
            [self.runc, "run", "--detach", "--bundle", str(self.bundle), self.id],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=60,
        )
        log.close()
        if res.returncode != 0:
            raise SmokeError(f"runc run {self.image} failed:\n{self.log()}")

    def exec(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.runc, "exec", "--user", f"{UID}:{UID}", self.id, *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def pid(self) -> int:
        return json.loads(sh(self.runc, "state", self.id))["pid"]

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.bundle / "out.log").read_text(errors="replace")[-3000:]
        return ""

    def close(self) -> None:
        subprocess.run([self.runc, "delete", "--force", self.id], capture_output=True, check=False)
        subprocess.run(["buildah", "rm", self.working], capture_output=True, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def smoke(runc: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="mp-smoke-"))
    store = work / "store"
    store.mkdir()
    os.chown(store, UID, UID)
    opened: list[Container] = []
    try:
        # ---- trainer
        start = time.monotonic()
        trainer = Container(runc, "docker.io/modelpilot/trainer:dev", work, store)
        opened.append(trainer)
        out = "/store/smoke/iris/v1"
        res = trainer.run(
            [
                "train",
                "--spec-json",
                json.dumps(SPEC),
                "--output",
                out,
                "--termination-log",
                "/tmp/termination-log",
            ]
        )
        if res.returncode != 0:
            raise SmokeError(f"trainer exited {res.returncode}:\n{res.stdout}{res.stderr}")
        # The digest the operator would have recorded from the Job's summary.
        sha = hashlib.sha256((store / "smoke/iris/v1/model.joblib").read_bytes()).hexdigest()
        print(
            f"smoke: trainer trained iris as uid {UID} on a read-only root "
            f"({time.monotonic() - start:.1f}s)",
            file=sys.stderr,
        )

        # ---- serving
        start = time.monotonic()
        server = Container(runc, "docker.io/modelpilot/serving:dev", work, store)
        opened.append(server)
        port = free_port()
        server.start(
            [
                "serve",
                "--model-dir",
                out,
                "--model-name",
                "iris",
                "--expected-sha256",
                sha,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ]
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SmokeError(f"server never became ready:\n{server.log()}")
            time.sleep(0.5)
        v1 = post(f"{base}/v1/models/iris:predict", {"instances": [[5.1, 3.5, 1.4, 0.2]]})
        v2 = post(
            f"{base}/v2/models/iris/infer",
            {
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": [1, 4],
                        "datatype": "FP64",
                        "data": [6.7, 3.0, 5.2, 2.3],
                    }
                ]
            },
        )
        if "predictions" not in v1 or not v2.get("outputs"):
            raise SmokeError(f"unexpected answers: V1 {v1}, V2 {v2}")
        status = proc_status(server.pid())
        uids = status["Uid"].split()
        if set(uids) != {str(UID)} or int(status["CapEff"], 16) != 0:
            raise SmokeError(f"server runs with Uid {uids}, CapEff {status['CapEff']}")
        wrote = server.exec("python", "-c", "open('/written-by-smoke', 'w')")
        if wrote.returncode == 0 or "Read-only file system" not in wrote.stderr:
            raise SmokeError(f"a write to / did not fail as read-only: {wrote.stderr}")
        print(
            f"smoke: server answered V1 {v1['predictions']} and V2 "
            f"{v2['outputs'][0].get('data')}; uid {UID}, CapEff 0, / read-only, "
            f"RSS {status['VmRSS'].strip()} "
            f"({time.monotonic() - start:.1f}s)",
            file=sys.stderr,
        )

        # ---- operator
        operator = Container(runc, "docker.io/modelpilot/operator:dev", work, store)
        opened.append(operator)
        res = operator.run(["operator", "--help"], timeout=120)
        if res.returncode != 0 or "usage: modelpilot operator" not in res.stdout:
            raise SmokeError(f"operator --help exited {res.returncode}:\n{res.stdout}{res.stderr}")
        # kopf names its peer after getpass.getuser(): the UID needs a passwd entry.
        res = operator.run(
            ["-c", "import getpass; print(getpass.getuser())"], timeout=60, entrypoint=["python"]
        )
        if res.returncode != 0 or res.stdout.strip() != "modelpilot":
            raise SmokeError(f"UID {UID} has no user name in the operator image: {res.stderr}")
        print("smoke: operator printed its help; UID 65532 is user modelpilot", file=sys.stderr)
    finally:
        for c in reversed(opened):
            c.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        smoke(sys.argv[1])
    except (SmokeError, OSError, subprocess.SubprocessError) as err:
        print(f"smoke: FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
