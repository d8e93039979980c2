"""The OCI registry beside the local cluster: CNCF Distribution's `registry`, on loopback.

`python -m localcluster.registry up|down` (PYTHONPATH=hack) starts or stops this index's
(MODELPILOT_CLUSTER_INDEX) and prints its address; `make release` starts it when needed.

A release is pushed here (images with buildah, the chart with `helm push`) and a node pulls
from it, as a user's nodes pull from theirs. Each cluster index has its own (port
PORT_BASE + index, beside the other per-index ports), its storage under the cache but
outside the cluster's state directory, so a pushed release outlives `cluster-down` while a
fresh cluster's containerd has still never seen its images. Plain HTTP on 127.0.0.1 only:
nothing off this machine can reach it, and containerd is told so by a hosts.toml.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PORT_BASE = 5100


def port(index: int) -> int:
    return PORT_BASE + index


def address(index: int) -> str:
    """host:port, the registry part of an image reference (127.0.0.1:5105/modelpilot/...)."""
    return f"127.0.0.1:{port(index)}"


def storage_dir(cache: Path, index: int) -> Path:
    return cache / f"registry-{index}"


def config(cache: Path, index: int) -> str:
    """The registry's configuration (YAML; JSON is YAML). Deletes are allowed so a test can
    remove what it pushed; the debug server is off (it would take a second port)."""
    import json

    return (
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "info", "accesslog": {"disabled": True}},
                "storage": {
                    "filesystem": {"rootdirectory": str(storage_dir(cache, index))},
                    "delete": {"enabled": True},
                },
                "http": {"addr": address(index)},
            },
            indent=2,
        )
        + "\n"
    )


def hosts_toml(index: int) -> str:
    """containerd's hosts.toml for this registry (config_path/<host:port>/hosts.toml): pull
    and resolve over plain HTTP, which loopback needs no TLS for."""
    url = f"http://{address(index)}"
    return f'server = "{url}"\n\n[host."{url}"]\n  capabilities = ["pull", "resolve"]\n'


def write_hosts(config_path: Path, index: int) -> Path:
    folder = config_path / address(index)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hosts.toml").write_text(hosts_toml(index))
    return folder / "hosts.toml"


def argv(bin_dir: Path, config_file: Path) -> list[str]:
    return [str(bin_dir / "registry"), "serve", str(config_file)]


def healthy(index: int, *, timeout: float = 2) -> bool:
    """The registry answers the OCI distribution API's base endpoint."""
    try:
        with urllib.request.urlopen(f"http://{address(index)}/v2/", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _pidfile(cache: Path, index: int) -> Path:
    return cache / f"registry-{index}.pid"


def up(cache: Path, bin_dir: Path, index: int, *, timeout: float = 30) -> str:
    """Start this index's registry unless it answers already; its address."""
    if healthy(index):
        return address(index)
    binary = bin_dir / "registry"
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: run `make registry-bin`")
    storage_dir(cache, index).mkdir(parents=True, exist_ok=True)
    config_file = cache / f"registry-{index}.yml"
    config_file.write_text(config(cache, index))
    with open(cache / f"registry-{index}.log", "ab") as log:
        proc = subprocess.Popen(
            argv(bin_dir, config_file),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _pidfile(cache, index).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while not healthy(index):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"the registry on {address(index)} did not come up: "
                f"{cache / f'registry-{index}.log'}"
            )
        time.sleep(0.2)
    return address(index)


def down(cache: Path, index: int) -> None:
    """Stop the registry this module started for `index` (its pushed content stays)."""
    try:
        pid = int(_pidfile(cache, index).read_text())
    except (OSError, ValueError):
        return
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"registry" in cmdline.read_bytes():
        os.kill(pid, signal.SIGTERM)
    _pidfile(cache, index).unlink(missing_ok=True)


def main(argv_: list[str]) -> int:
    from localcluster.cluster import Layout

    lay = Layout.from_env()
    if argv_ == ["up"]:
        print(up(lay.cache, lay.bin, lay.index))
    elif argv_ == ["down"]:
        down(lay.cache, lay.index)
    else:
        print("usage: python -m localcluster.registry up|down", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
