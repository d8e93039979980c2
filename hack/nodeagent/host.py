"""What a pod worker needs from the node agent that runs it, as a Protocol.

nodeagent.agent.Agent implements it; nodeagent.runtime and nodeagent.containers depend on
this Protocol only, so the worker never imports the agent that imports the worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from nodeagent.kube import Kube
from nodeagent.network import PodNetwork
from nodeagent.volumes import VolumeBuilder


class HostConfig(Protocol):
    bridge_ip: str
    venv_bin: str
    python: str
    apiserver_host: str
    apiserver_port: int


class Host(Protocol):
    cfg: Any  # nodeagent.agent.Config (read through HostConfig's fields)
    kube: Kube
    network: PodNetwork
    volumes: VolumeBuilder
    entrypoints: dict[str, list[str]]
    image_paths: tuple[str, ...]
    pods_dir: Path

    def event(
        self, pod: dict, etype: str, reason: str, message: str, *, once: bool = False
    ) -> None: ...

    def forget(self, uid: str, worker: Any) -> None: ...
