"""What the canary stories need beyond operator_harness: a small, bounded load generator
that sends real predictions to the serving pods in proportion to where traffic would go,
readers for EndpointSlices and route weights, and the `modelpilot` CLI as a person runs it.

The load generator only ever talks to pod IPs on this machine, stops at `max_requests` or
`max_seconds` (whichever comes first), and records every outcome by the version that was
meant to answer, so a test can say "stable failed 0 of 1234 requests".
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import yaml
from kube import REPO, Kubectl, wait_for
from operator_harness import EXAMPLES, Story

CANARY = yaml.safe_load((EXAMPLES / "canary" / "iris-canary.yaml").read_text())
ROW = [[5.1, 3.5, 1.4, 0.2]]
VERSION_HEADER = "modelpilot-model-version"


@dataclass(frozen=True)
class Target:
    ip: str
    version: str  # the revision whose pod this is ("v2")
    weight: float = 1.0  # relative share of the requests it should get


class LoadGenerator:
    """Sends POST /v1/models/MODEL:predict to `targets()`, refreshed every `refresh` seconds.

    The refresh plays kube-proxy: it must follow an endpoint's removal well within the
    server's drain (2 s of still answering after SIGTERM), as a real data plane does.

    `outcomes[(version, outcome)]` counts "ok" (200 from the expected version), "http-NNN",
    "wrong-version" and "error" (connection refused, timeout ...). Use as a context manager.
    """

    def __init__(
        self,
        targets: Callable[[], list[Target]],
        *,
        model: str = "iris",
        rate: float = 40.0,
        threads: int = 2,
        max_requests: int = 15000,
        max_seconds: float = 300.0,
        refresh: float = 0.3,
        seed: int = 0,
    ) -> None:
        self._targets_of = targets
        self._model = model
        self._interval = threads / rate
        self._threads = threads
        self._max_requests = max_requests
        self._max_seconds = max_seconds
        self._refresh = refresh
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._targets: list[Target] = []
        self._workers: list[threading.Thread] = []
        self.outcomes: Counter[tuple[str, str]] = Counter()
        # Outcomes of the requests *picked* after mark(): a request picked from the old
        # targets just before it, and answered just after, belongs to the time before.
        self.outcomes_since_mark: Counter[tuple[str, str]] = Counter()
        self._marked = False
        self.sent = 0

    def __enter__(self) -> LoadGenerator:
        self._deadline = time.monotonic() + self._max_seconds
        self._load_targets()
        self._workers = [threading.Thread(target=self._refresher, daemon=True)]
        self._workers += [
            threading.Thread(target=self._worker, daemon=True) for _ in range(self._threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=10)

    def served(self, version: str) -> int:
        return self.outcomes[(version, "ok")]

    def failed(self, version: str) -> int:
        return sum(
            n for (v, outcome), n in self.outcomes.items() if v == version and outcome != "ok"
        )

    def versions(self) -> set[str]:
        """The versions this generator sends to now (its own copy of the targets)."""
        with self._lock:
            return {t.version for t in self._targets if t.weight > 0}

    def mark(self) -> None:
        """Count from here on into `outcomes_since_mark`, by the time a request was picked."""
        with self._lock:
            self.outcomes_since_mark.clear()
            self._marked = True

    def summary(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (version, outcome), n in sorted(self.outcomes.items()):
            out.setdefault(version, {})[outcome] = n
        return out

    def _load_targets(self) -> None:
        try:
            targets = self._targets_of()
        except Exception:  # a failed read keeps the last known targets
            return
        with self._lock:
            self._targets = targets

    def _refresher(self) -> None:
        while not self._stop.wait(self._refresh):
            self._load_targets()

    def _pick(self) -> tuple[Target, bool] | None:
        with self._lock:
            targets = [t for t in self._targets if t.weight > 0]
            if not targets:
                return None
            chosen = self._random.choices(targets, weights=[t.weight for t in targets])[0]
            return chosen, self._marked

    def _take_one(self) -> bool:
        with self._lock:
            if self.sent >= self._max_requests:
                return False
            self.sent += 1
            return True

    def _worker(self) -> None:
        url = "http://{}:8080/v1/models/" + self._model + ":predict"
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                started = time.monotonic()
                picked = self._pick()
                if picked is not None and self._take_one():
                    target, after_mark = picked
                    outcome = self._send(client, url.format(target.ip), target.version)
                    with self._lock:
                        self.outcomes[(target.version, outcome)] += 1
                        if after_mark:
                            self.outcomes_since_mark[(target.version, outcome)] += 1
                elif picked is not None:
                    return  # max_requests reached
                self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))

    @staticmethod
    def _send(client: httpx.Client, url: str, version: str) -> str:
        try:
            response = client.post(url, json={"instances": ROW})
        except httpx.HTTPError:
            return "error"
        if response.status_code != 200:
            return f"http-{response.status_code}"
        if response.headers.get(VERSION_HEADER) != version:
            return "wrong-version"
        return "ok"


def pod_versions(kubectl: Kubectl, namespace: str, model: str) -> dict[str, str]:
    """Pod IP -> revision of the model's serving pods."""
    pods = kubectl.pods(namespace, f"modelpilot.dev/model={model},modelpilot.dev/component=serving")
    return {
        p["status"]["podIP"]: p["metadata"]["labels"]["modelpilot.dev/revision"]
        for p in pods
        if p.get("status", {}).get("podIP")
    }


def ready_endpoints(kubectl: Kubectl, namespace: str, service: str) -> list[str]:
    """Addresses of the Service's Ready endpoints, from its EndpointSlices."""
    slices = kubectl.json(
        "get", "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}"
    )["items"]
    return sorted(
        address
        for s in slices
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready")
        for address in e.get("addresses") or []
    )


def endpoint_mix(kubectl: Kubectl, namespace: str, service: str, model: str) -> Counter[str]:
    """How many Ready endpoints of each revision the Service has: what kube-proxy spreads over."""
    versions = pod_versions(kubectl, namespace, model)
    return Counter(versions.get(ip, "?") for ip in ready_endpoints(kubectl, namespace, service))


def service_targets(kubectl: Kubectl, namespace: str, service: str, model: str):
    """Targets as Service NAME's EndpointSlices have them (the replicas router)."""

    def targets() -> list[Target]:
        versions = pod_versions(kubectl, namespace, model)
        return [
            Target(ip, versions[ip])
            for ip in ready_endpoints(kubectl, namespace, service)
            if ip in versions
        ]

    return targets


def run_cli(kube: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`modelpilot ARGS...` as a person runs it, against the local cluster."""
    return subprocess.run(
        [sys.executable, "-m", "modelpilot.cli", *args],
        env=kube,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def canary_status(story: Story) -> dict:
    return story.status().get("canary") or {}


def wait_canary(story: Story, what: str, predicate, timeout: float = 120) -> dict:
    def probe() -> dict | None:
        c = canary_status(story)
        return c if c and predicate(c) else None

    try:
        return wait_for(probe, timeout=timeout, interval=0.2, what=what)
    except AssertionError as error:
        # Say where the rollout is instead, so a timeout explains itself.
        status = story.status()
        candidate = status.get("candidate") or {}
        reconciling = next(
            (c for c in status.get("conditions") or [] if c["type"] == "Reconciling"), {}
        )
        raise AssertionError(
            f"{error}; phase {status.get('phase')}, candidate {candidate.get('revision')} "
            f"{candidate.get('state')} ({candidate.get('message')}), canary "
            f"{status.get('canary')}, Reconciling: {reconciling.get('message')}"
        ) from None
