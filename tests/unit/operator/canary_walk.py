"""The canary walks' world: a ModelDeployment with steps and analysis (SPEC) serving v1 on the
in-memory cluster, metrics from a fake source the test chooses (FakeMetrics), and `Walk`,
which ticks the operator core and checks every phase transition.

test_operator_canary.py walks it; the autoscaling tests reuse it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from builders import FOREST, spec_dict
from builders import training_summary as summary
from operator_fakes import FakeCluster

from modelpilot.api import names
from modelpilot.api.status import parse_status
from modelpilot.operator.analysis.counts import Counts, Snapshot, window
from modelpilot.operator.analysis.source import Sample
from modelpilot.operator.reconcile import tick
from modelpilot.operator.rollout import check_transition
from modelpilot.operator.settings import Settings

NS, NAME = "ml", "iris"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(trainer_image="trainer:test", serving_image="serving:test")
STEPS = [
    {"setWeight": 20},
    {"pause": {"duration": "3s"}},
    {"setWeight": 50},
    {"pause": {"duration": "3s"}},
]
SPEC = spec_dict(
    FOREST,
    params={"n_estimators": 10},
    serving={"replicas": 2},
    rollout={
        "steps": STEPS,
        "analysis": {"interval": "2s", "minRequests": 10, "failureLimit": 2},
    },
)
HEALTHY = Counts(requests={"2xx": 50}, latency={0.01: 50, float("inf"): 0})
SLOW = Counts(requests={"2xx": 50}, latency={0.01: 10, 0.5: 40, float("inf"): 0})
QUIET = Counts(requests={"2xx": 2}, latency={0.01: 2, float("inf"): 0})


@dataclass
class FakeMetrics:
    """A MetricsSource whose pods gain `per_window[version]` counts before every query."""

    per_window: dict[str, Counts] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    cumulative: dict[str, Counts] = field(default_factory=dict)

    def __call__(self, analysis):  # the factory: one source for every spec
        return self

    def query(self, *, namespace, model, version, pod_ips, window_seconds, previous):
        self.queries.append(version)
        now = self.cumulative.get(version, Counts()) + self.per_window.get(version, Counts())
        self.cumulative[version] = now
        snapshot = Snapshot(pods={"10.0.0.1": now})
        if previous is None:
            return Sample(window=None, snapshot=snapshot)
        return Sample(window=window(previous.pods.get("10.0.0.1"), now), snapshot=snapshot)


class Walk:
    """Given/When/Then over the fake cluster; every tick checks the phase transition."""

    drift = None  # the drift scraper ticks use (modelpilot.operator.monitoring.Scraper)
    # Defaults for a Walk a test assembles itself (Walk.__new__).
    settings: Settings = SETTINGS
    tick_args: dict = {}

    def __init__(
        self, spec: dict | None = None, settings: Settings = SETTINGS, **tick_args
    ) -> None:
        # tick_args: what the operator's process passes every tick (gates=, notifier=).
        self.settings, self.tick_args = settings, tick_args
        self.cluster = FakeCluster()
        self.cluster.add_model_store(NS)
        self.metrics = FakeMetrics(per_window={"v1": HEALTHY, "v2": HEALTHY})
        self.now = T0
        self.spec = copy.deepcopy(spec or SPEC)
        self.annotations: dict[str, str] = {}
        self.cluster.apply_model_deployment(NS, NAME, self.spec)
        self.tick()
        self.cluster.finish_job(NS, "iris-train-v1", summary("v1", 0.9))
        self.tick()
        self.cluster.make_ready(NS, "iris-v1")
        self.tick()
        assert self.status().phase == "Serving"

    def tick(self, seconds: float = 1.0):
        before = self.status()
        result = tick(
            self.cluster,
            self.settings,
            NS,
            NAME,
            self.now,
            metrics=self.metrics,
            drift=self.drift,
            **self.tick_args,
        )
        self.now += timedelta(seconds=seconds)
        check_transition(before.phase, self.status().phase)
        return result

    def ticks(self, n: int, seconds: float = 1.0) -> None:
        for _ in range(n):
            self.tick(seconds)

    def annotate(self, **values: str) -> None:
        self.annotations.update(values)
        self.cluster.apply_model_deployment(NS, NAME, self.spec, annotations=self.annotations)

    def start_canary(self, score: float = 0.95) -> None:
        """v2 trains (retrain), passes the gate and starts as a canary."""
        self.annotate(**{names.ANNOTATION_RETRAIN: "1"})
        self.tick()
        self.cluster.finish_job(NS, "iris-train-v2", summary("v2", score, 0.9, sha="b"))
        self.tick()
        assert self.status().phase == "Canary"

    def status(self):
        md = self.cluster.get(names.KIND, NS, NAME)
        return parse_status(md.get("status") if md else None)

    def canary(self):
        return self.status().canary

    def condition(self, type_: str):
        return self.status().condition(type_)

    def replicas(self, name: str) -> int | None:
        dep = self.cluster.get("Deployment", NS, name)
        return None if dep is None else dep["spec"]["replicas"]

    def selector(self, name: str = NAME) -> dict:
        return self.cluster.get("Service", NS, name)["spec"]["selector"]

    def ready(self, revision: str) -> None:
        self.cluster.make_ready(NS, f"{NAME}-{revision}")

    def until(self, predicate, limit: int = 30, seconds: float = 1.0):
        for _ in range(limit):
            if predicate():
                return
            self.tick(seconds)
        raise AssertionError(f"not reached in {limit} ticks: {self.status()}")
