"""The OCI registry beside the local cluster: CNCF Distribution's `registry`, on loopback.

A release is pushed here (images with buildah, the chart with `helm push`) and a node pulls
from it, as a user's nodes pull from theirs. Each cluster index has its own (port
PORT_BASE + index, beside the other per-index ports), its storage under the cache but
outside the cluster's state directory, so a pushed release outlives `cluster-down` while a
fresh cluster's containerd has still never seen its images. Plain HTTP on 127.0.0.1 only:
nothing off this machine can reach it, and containerd is told so by a hosts.toml.
"""

from __future__ import annotations

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

    return json.dumps({
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir(cache, index))},
            "delete": {"enabled": True},
        },
        "http": {"addr": address(index)},
    }, indent=2) + "\n"


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
