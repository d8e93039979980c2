"""A real Prometheus for the e2e suite, and the dashboards' panel queries it must answer."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kube import REPO, cache_dir, wait_for

pytestmark = pytest.mark.e2e
DASHBOARDS = REPO / "charts" / "modelpilot" / "dashboards"
PROMETHEUS = cache_dir() / "prometheus" / "bin" / "prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """A Prometheus process on loopback scraping every second."""

    def __init__(self, workdir: Path, operator: str, namespace: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets = workdir / "serving.json"
        self.namespace = namespace
        self.write_targets([])
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": "operator", "static_configs": [{"targets": [operator]}]},
                {
                    "job_name": "serving",
                    "file_sd_configs": [{"files": [str(self.targets)], "refresh_interval": "1s"}],
                },
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 - the child's
        self.proc = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: self.ready(), timeout=60, what="prometheus ready")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def write_targets(self, addresses: list[str]) -> None:
        """The serving targets, HOST:PORT each."""
        text = json.dumps([{"targets": addresses, "labels": {"namespace": self.namespace}}])
        if self.targets.exists() and self.targets.read_text() == text:
            return
        tmp = self.targets.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.targets)  # atomic: Prometheus never reads half a file

    def query(self, expr: str) -> list[dict]:
        query = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=10) as r:
            answer = json.loads(r.read())
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def query_range(self, expr: str, start: float, end: float) -> list[dict]:
        query = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": "2s"})
        with urllib.request.urlopen(f"{self.url}/api/v1/query_range?{query}", timeout=10) as r:
            answer = json.loads(r.read())
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def has_data(result: list[dict]) -> bool:
    return any(not math.isnan(float(v)) for series in result for _, v in series["values"])


def filled(expr: str, namespace: str) -> str:
    """The query as Grafana would send it for this model (the scrape is every second)."""
    return (
        expr.replace("$namespace", namespace)
        .replace("$modeldeployment", "iris")
        .replace("$__rate_interval", "10s")
    )


def panels() -> Iterator[tuple[str, str, str]]:
    """(dashboard, panel or annotation title, query) for everything the dashboards ask."""
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                yield path.stem, panel["title"], target["expr"]
        for annotation in board["annotations"]["list"]:
            yield path.stem, f"annotation {annotation['name']}", annotation["expr"]
