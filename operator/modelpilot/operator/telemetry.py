"""The operator's own Prometheus metrics: how its loop, its API use and its models are doing.

One `OperatorMetrics` per process, on its own registry (never prometheus_client's global
one, so tests build as many as they like). Every label set is bounded: outcomes, verbs,
kinds, codes and phases are closed sets; the per-ModelDeployment series (kube-state-metrics
style) are one small group per object and are built at scrape time from the last status each
tick saw, so a deleted ModelDeployment's series vanish with it (`forget`).

Names follow Prometheus conventions: `modelpilot_` prefix, `_total` counters, `_seconds`
durations, `_ratio` fractions in [0, 1], `_info` series whose value is 1 and whose labels
carry the facts.

Two per-object series are events rather than state: analysis windows and training durations.
They are counted from the difference between the status one tick saw and the status the
previous tick saw (the status is the only memory; see RevisionEvents), so an operator that
restarts starts counting from what it sees first and never counts a window twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelpilot.api.status import (
    CandidateState,
    ModelDeploymentStatus,
    MonitoringStatus,
    Phase,
)
from modelpilot.api.version import installed_version

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Closed label sets. A tick ends in one of these; see WorkQueue._run.
OUTCOMES = ("success", "conflict", "error", "permanent", "crash")
# kube verbs by HTTP method (GET splits into get/list by whether a name is in the path).
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# A reconcile takes milliseconds when observing only, seconds when it scrapes pods.
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A training Job takes seconds for a small table and hours for a large one.
TRAINING_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
NOTIFICATION_OUTCOMES = ("sent", "failed", "dropped")  # modelpilot.operator.notify
VERDICTS = ("Passed", "Failed", "Inconclusive")  # AnalysisWindow.verdict
# How a training ended, from the candidate's state after it (closed set).
TRAINING_OUTCOMES = ("succeeded", "failed", "superseded")


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
    gate_revision: str | None = None  # the revision gate_score is of
    candidate_revision: str | None = None
    candidate_state: CandidateState | None = None
    # The canary's analysis windows as (start, verdict), newest first; () without a canary.
    windows: tuple[tuple[datetime, str], ...] = ()
    # The last monitoring window's PSI of the worst features, and the spec's limit.
    feature_psi: tuple[tuple[str, float], ...] = ()
    psi_threshold: float | None = None
    # status.monitoring.performance: (revision, metric, value) of the live gate metric from
    # fed-back labels, and its labelled rows; None when not computed.
    live_metric: tuple[str, str, float] | None = None
    live_labels: int | None = None

    @classmethod
    def from_status(
        cls,
        status: ModelDeploymentStatus,
        *,
        queued: bool = False,
        psi_threshold: float | None = None,
    ) -> ModelDeploymentFacts:
        candidate = status.candidate
        scored = None
        if candidate is not None and candidate.candidate_score is not None:
            scored = candidate
        canary = status.canary
        monitoring = status.monitoring
        return cls(
            phase=status.phase,
            stable_revision=status.stable.revision if status.stable is not None else None,
            canary_weight=canary.weight if canary is not None else 0,
            gate_metric=scored.metric if scored is not None else None,
            gate_score=scored.candidate_score if scored is not None else None,
            gate_revision=scored.revision if scored is not None else None,
            training=candidate is not None
            and candidate.state == CandidateState.TRAINING
            and not queued,
            queued=queued,
            candidate_revision=candidate.revision if candidate is not None else None,
            candidate_state=candidate.state if candidate is not None else None,
            windows=tuple((w.started_at, w.verdict) for w in canary.analysis.windows)
            if canary is not None
            else (),
            feature_psi=tuple((f.feature, f.psi) for f in monitoring.worst)
            if monitoring is not None
            else (),
            psi_threshold=psi_threshold,
            live_metric=_live_metric(monitoring),
            live_labels=None
            if monitoring is None or monitoring.performance is None
            else monitoring.performance.count,
        )


def _live_metric(monitoring: MonitoringStatus | None) -> tuple[str, str, float] | None:
    performance = None if monitoring is None else monitoring.performance
    if performance is None or performance.value is None:
        return None
    return (performance.revision or "", performance.metric or "", performance.value)


def new_windows(
    before: ModelDeploymentFacts | None, after: ModelDeploymentFacts
) -> tuple[str, ...]:
    """Verdicts of the analysis windows `after` holds that `before` did not.

    Nothing before (the first sighting since the operator started): nothing new, since the
    windows may have been counted by the previous process. Windows are told apart by start."""
    if before is None:
        return ()
    seen = max((start for start, _ in before.windows), default=None)
    return tuple(v for start, v in after.windows if seen is None or start > seen)


def training_outcome(state: CandidateState | None) -> str:
    """How a training that is no longer running ended, from its candidate's state."""
    if state is CandidateState.FAILED:
        return "failed"
    if state is CandidateState.SUPERSEDED or state is None:
        return "superseded"
    return "succeeded"


class ModelDeploymentCollector(Collector):
    """kube-state-metrics style series for every ModelDeployment the operator reconciles,
    and the events (analysis windows, trainings) read from the difference between ticks."""

    def __init__(self) -> None:
        self._facts: dict[tuple[str, str], ModelDeploymentFacts] = {}
        self._lock = threading.Lock()  # ticks run in threads; scrapes in the event loop
        self._windows: dict[tuple[str, str, str], int] = {}
        # (revision, monotonic seconds) of the training each ModelDeployment runs, from the
        # first tick that saw its Job run (after any wait for a slot).
        self._training_since: dict[tuple[str, str], tuple[str | None, float]] = {}
        self._training = Histogram(
            "modelpilot_training_duration_seconds",
            "How long training Jobs ran, as the operator saw them start and end, by outcome "
            "(succeeded, failed, superseded).",
            ["namespace", "modeldeployment", "outcome"],
            buckets=TRAINING_BUCKETS,
            registry=None,
        )

    def record(
        self, namespace: str, name: str, facts: ModelDeploymentFacts, *, now: float | None = None
    ) -> None:
        """Remember a tick's facts; `now` is a monotonic reading (time.monotonic by default)."""
        at = time.monotonic() if now is None else now
        key = (namespace, name)
        with self._lock:
            before = self._facts.get(key)
            self._facts[key] = facts
            for verdict in VERDICTS:
                self._windows.setdefault((namespace, name, verdict), 0)
            for verdict in new_windows(before, facts):
                self._windows[(namespace, name, verdict)] += 1
            self._time_training(key, facts, at)

    def _time_training(self, key: tuple[str, str], facts: ModelDeploymentFacts, at: float) -> None:
        running = self._training_since.get(key)
        if running is not None and (not facts.training or running[0] != facts.candidate_revision):
            same = running[0] == facts.candidate_revision
            outcome = training_outcome(facts.candidate_state) if same else "superseded"
            self._training.labels(*key, outcome).observe(at - running[1])
            del self._training_since[key]
            running = None
        if running is None and facts.training:
            self._training_since[key] = (facts.candidate_revision, at)

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._facts.pop((namespace, name), None)
            self._training_since.pop((namespace, name), None)
            for verdict in VERDICTS:
                self._windows.pop((namespace, name, verdict), None)
            for outcome in TRAINING_OUTCOMES:
                with contextlib.suppress(KeyError):  # never observed
                    self._training.remove(namespace, name, outcome)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            facts = sorted(self._facts.items())
            windows = sorted(self._windows.items())
        yield from _fleet(facts)
        yield from _per_model(facts)
        counted = CounterMetricFamily(
            "modelpilot_analysis_windows",
            "Canary analysis windows concluded, by verdict (Passed, Failed, Inconclusive).",
            labels=["namespace", "modeldeployment", "verdict"],
        )
        for labels, count in windows:
            counted.add_metric(list(labels), count)
        yield counted
        yield from self._training.collect()


Facts = list[tuple[tuple[str, str], ModelDeploymentFacts]]


def _fleet(facts: Facts) -> Iterator[Metric]:
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


def _per_model(facts: Facts) -> Iterator[Metric]:
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
        "modelpilot_modeldeployment_canary_weight_ratio",
        "Desired share of requests for the canary, 0 to 1 (0 without a canary).",
        labels=key,
    )
    score = GaugeMetricFamily(
        "modelpilot_modeldeployment_gate_score",
        "The newest scored candidate's gate metric on its holdout.",
        labels=[*key, "revision", "metric"],
    )
    psi = GaugeMetricFamily(
        "modelpilot_modeldeployment_feature_psi",
        "Population stability index of the last monitoring window against the training "
        "data, for the features that drifted most (status.monitoring.worst).",
        labels=[*key, "feature"],
    )
    psi_limit = GaugeMetricFamily(
        "modelpilot_modeldeployment_feature_psi_threshold",
        "spec.monitoring.maxFeaturePsi: a feature above it makes the model Drifted.",
        labels=key,
    )
    live = GaugeMetricFamily(
        "modelpilot_modeldeployment_live_metric",
        "The gate's metric on live traffic, from labels fed back by request id over "
        "spec.monitoring.performance.window (status.monitoring.performance).",
        labels=[*key, "revision", "metric"],
    )
    live_labels = GaugeMetricFamily(
        "modelpilot_modeldeployment_live_metric_labels",
        "Labelled rows the live metric is computed over.",
        labels=key,
    )
    for (namespace, name), fact in facts:
        if fact.live_metric is not None:
            live.add_metric(
                [namespace, name, fact.live_metric[0], fact.live_metric[1]], fact.live_metric[2]
            )
        if fact.live_labels is not None:
            live_labels.add_metric([namespace, name], fact.live_labels)
        for each in Phase:
            phases.add_metric([namespace, name, each.value], float(each == fact.phase))
        if fact.stable_revision is not None:
            stable.add_metric([namespace, name, fact.stable_revision], 1)
        weight.add_metric([namespace, name], fact.canary_weight / 100)
        if fact.gate_score is not None:
            labels = [namespace, name, fact.gate_revision or "", fact.gate_metric or ""]
            score.add_metric(labels, fact.gate_score)
        for feature, value in fact.feature_psi:
            psi.add_metric([namespace, name, feature], value)
        if fact.psi_threshold is not None:
            psi_limit.add_metric([namespace, name], fact.psi_threshold)
    yield from (phases, stable, weight, score, psi, psi_limit, live, live_labels)


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
        self.notifications = Counter(
            "modelpilot_notifications",
            "Notifications (spec.notifications) by outcome: sent, failed after its retries, "
            "or dropped because the queue was full.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in NOTIFICATION_OUTCOMES:
            self.notifications.labels(outcome)

    def watch_queue(self, *, depth: Callable[[], float], oldest_age: Callable[[], float]) -> None:
        """Report this queue's depth and oldest age (0 until a queue is watched)."""
        self._depth, self._oldest_age = depth, oldest_age

    def observe_tick(self, outcome: str, seconds: float) -> None:
        self.reconcile_total.labels(outcome).inc()
        self.reconcile_duration.labels(outcome).observe(seconds)

    def count_notification(self, outcome: str) -> None:
        self.notifications.labels(outcome).inc()

    def observe_request(self, method: str, *, kind: str, named: bool, code: int) -> None:
        verb = VERBS.get(method) or ("get" if named else "list")
        self.api_requests.labels(verb, kind, str(code)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
