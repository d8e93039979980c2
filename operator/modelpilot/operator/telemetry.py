"""The operator's own Prometheus metrics: how its loop, its API use and its models are doing.

One `OperatorMetrics` per process, on its own registry (never prometheus_client's global
one, so tests build as many as they like). Every label set is bounded: outcomes, verbs,
kinds, codes and phases are closed sets; the per-ModelDeployment series (kube-state-metrics
style) are one small group per object and are built at scrape time from the last status each
tick saw, so a deleted ModelDeployment's series vanish with it (`forget`).

Names follow Prometheus conventions: `modelpilot_` prefix, `_total` counters, `_seconds`
durations, `_info` series whose value is 1 and whose labels carry the facts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelpilot.api.status import CandidateState, ModelDeploymentStatus, Phase
from modelpilot.api.version import installed_version

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Closed label sets. A tick ends in one of these; see WorkQueue._run.
OUTCOMES = ("success", "conflict", "error", "permanent", "crash")
# kube verbs by HTTP method (GET splits into get/list by whether a name is in the path).
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# A reconcile takes milliseconds when observing only, seconds when it scrapes pods.
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class ModelDeploymentFacts:
    """What a scrape says about one ModelDeployment, taken from the status a tick wrote."""

    phase: Phase
    stable_revision: str | None
    canary_weight: int
    gate_metric: str | None
    gate_score: float | None
    training: bool  # its candidate's training Job is running
    queued: bool = False  # waiting for a training slot

    @classmethod
    def from_status(
        cls, status: ModelDeploymentStatus, *, queued: bool = False
    ) -> ModelDeploymentFacts:
        candidate = status.candidate
        scored = None
        if candidate is not None and candidate.candidate_score is not None:
            scored = candidate
        return cls(
            phase=status.phase,
            stable_revision=status.stable.revision if status.stable is not None else None,
            canary_weight=status.canary.weight if status.canary is not None else 0,
            gate_metric=scored.metric if scored is not None else None,
            gate_score=scored.candidate_score if scored is not None else None,
            training=candidate is not None
            and candidate.state == CandidateState.TRAINING
            and not queued,
            queued=queued,
        )


class ModelDeploymentCollector(Collector):
    """kube-state-metrics style series for every ModelDeployment the operator reconciles."""

    def __init__(self) -> None:
        self._facts: dict[tuple[str, str], ModelDeploymentFacts] = {}
        self._lock = threading.Lock()  # ticks run in threads; scrapes in the event loop

    def record(self, namespace: str, name: str, facts: ModelDeploymentFacts) -> None:
        with self._lock:
            self._facts[(namespace, name)] = facts

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._facts.pop((namespace, name), None)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            facts = sorted(self._facts.items())
        by_phase = GaugeMetricFamily(
            "modelpilot_modeldeployments",
            "ModelDeployments the operator reconciles, by phase.",
            labels=["phase"],
        )
        counts = {phase: 0 for phase in Phase}
        for _, fact in facts:
            counts[fact.phase] += 1
        for phase, count in counts.items():
            by_phase.add_metric([phase.value], count)
        yield by_phase

        trainings = GaugeMetricFamily(
            "modelpilot_trainings",
            "Training Jobs running, and revisions waiting for a training slot.",
            labels=["state"],
        )
        trainings.add_metric(["running"], sum(f.training for _, f in facts))
        trainings.add_metric(["queued"], sum(f.queued for _, f in facts))
        yield trainings

        key = ["namespace", "modeldeployment"]
        phases = GaugeMetricFamily(
            "modelpilot_modeldeployment_status_phase",
            "1 for the ModelDeployment's current phase, 0 for the others.",
            labels=[*key, "phase"],
        )
        stable = GaugeMetricFamily(
            "modelpilot_modeldeployment_stable_revision_info",
            "The revision that serves as stable (value 1).",
            labels=[*key, "revision"],
        )
        weight = GaugeMetricFamily(
            "modelpilot_modeldeployment_canary_weight",
            "Desired canary weight in percent (0 without a canary).",
            labels=key,
        )
        score = GaugeMetricFamily(
            "modelpilot_modeldeployment_gate_score",
            "The newest candidate's gate metric on its holdout.",
            labels=[*key, "metric"],
        )
        for (namespace, name), fact in facts:
            for each in Phase:
                phases.add_metric([namespace, name, each.value], float(each == fact.phase))
            if fact.stable_revision is not None:
                stable.add_metric([namespace, name, fact.stable_revision], 1)
            weight.add_metric([namespace, name], fact.canary_weight)
            if fact.gate_score is not None:
                score.add_metric([namespace, name, fact.gate_metric or ""], fact.gate_score)
        yield from (phases, stable, weight, score)


class _Callback(Collector):
    """A gauge family whose value is read when scraped (queue depth, oldest item age)."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name, self._doc, self._read = name, documentation, read

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self._name, self._doc)
        family.add_metric([], self._read())
        yield family


class OperatorMetrics:
    """Every series the operator exports; the work queue, the cluster client and the tick
    report into it, `/metrics` renders it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.reconcile_total = Counter(
            "modelpilot_reconcile",
            "Reconcile ticks of one ModelDeployment, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            "modelpilot_reconcile_duration_seconds",
            "How long one reconcile tick took, by outcome.",
            ["outcome"],
            buckets=TICK_BUCKETS,
            registry=self.registry,
        )
        self.api_requests = Counter(
            "modelpilot_api_requests",
            "Requests to the Kubernetes API, by verb, kind and HTTP code (0: no response).",
            ["verb", "kind", "code"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "modelpilot_leader",
            "1 while this operator holds the leader Lease and acts, 0 while it stands by.",
            registry=self.registry,
        )
        # Which release is running: `modelpilot version` reads it through the pod proxy.
        self.build_info = Gauge(
            "modelpilot_build_info",
            "1, labelled with the running operator's version.",
            ["version"],
            registry=self.registry,
        )
        self.build_info.labels(installed_version()).set(1)
        self.model_deployments = ModelDeploymentCollector()
        self.registry.register(self.model_deployments)
        self._depth: Callable[[], float] = lambda: 0.0
        self._oldest_age: Callable[[], float] = lambda: 0.0
        self.registry.register(
            _Callback(
                "modelpilot_workqueue_depth",
                "ModelDeployments waiting for a tick.",
                lambda: self._depth(),
            )
        )
        self.registry.register(
            _Callback(
                "modelpilot_workqueue_oldest_item_age_seconds",
                "How long the longest-waiting ModelDeployment has waited for its tick.",
                lambda: self._oldest_age(),
            )
        )
        for outcome in OUTCOMES:  # every outcome exported from the start, at 0
            self.reconcile_total.labels(outcome)
            self.reconcile_duration.labels(outcome)

    def watch_queue(self, *, depth: Callable[[], float], oldest_age: Callable[[], float]) -> None:
        """Report this queue's depth and oldest age (0 until a queue is watched)."""
        self._depth, self._oldest_age = depth, oldest_age

    def observe_tick(self, outcome: str, seconds: float) -> None:
        self.reconcile_total.labels(outcome).inc()
        self.reconcile_duration.labels(outcome).observe(seconds)

    def observe_request(self, method: str, *, kind: str, named: bool, code: int) -> None:
        verb = VERBS.get(method) or ("get" if named else "list")
        self.api_requests.labels(verb, kind, str(code)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
