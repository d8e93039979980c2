"""The observed world: one frozen snapshot of what a ModelDeployment owns, taken once per tick.

Built by modelpilot.operator.observe from the objects the apiserver returns (only objects
whose controller owner reference is this ModelDeployment count), and read by plan(). Each
field says when it is empty or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from modelpilot.api.feedback import FeedbackStats
from modelpilot.api.fingerprint import DataProbeReport
from modelpilot.api.reasons import ConditionReason
from modelpilot.api.summary import TrainingSummary
from modelpilot.operator.analysis.source import Sample
from modelpilot.operator.rollout.policy import Policy
from modelpilot.operator.routers.weights import Weights


@dataclass(frozen=True)
class ObservedJob:
    """A training Job NAME-train-vN and what its pods reported."""

    name: str
    revision: str
    succeeded: bool = False  # the Job has condition Complete=True
    failed: bool = False  # the Job has condition Failed=True
    # The Failed condition's reason (BackoffLimitExceeded, DeadlineExceeded) and message;
    # None unless failed.
    failure_reason: str | None = None
    failure_message: str | None = None
    # The trainer's summary from the newest terminated pod's termination message; None while
    # no pod has terminated, or when the message is not a summary (see summary_problem).
    summary: TrainingSummary | None = None
    # Why a terminated pod's message could not be read as a summary (e.g. a crash before
    # the trainer ran: FallbackToLogsOnError puts the log tail there); None otherwise.
    summary_problem: str | None = None
    # Why a pod is not running yet (unschedulable, image pull, ...); None when it runs/ran.
    pod_problem: str | None = None

    @property
    def finished(self) -> bool:
        return self.succeeded or self.failed


@dataclass(frozen=True)
class ObservedDeployment:
    """A serving Deployment NAME-vN."""

    name: str
    revision: str
    replicas: int  # spec.replicas
    ready_replicas: int = 0  # status.readyReplicas
    updated_replicas: int = 0  # status.updatedReplicas
    # status.observedGeneration >= metadata.generation: the counts above describe the
    # current spec. False right after an update.
    current: bool = True
    intent_hash: str | None = None  # the modelpilot.dev/intent-hash annotation we stamped
    # The modelpilot.dev/serving-image annotation: the default serving image the Deployment
    # was first made with. None on a Deployment an older operator made.
    default_image: str | None = None
    # Progressing=False with reason ProgressDeadlineExceeded: the message; None otherwise.
    progress_failure: str | None = None
    # Why a pod is not Ready (unschedulable, crashing with its last message, ...); None when
    # all pods are Ready or none exist yet.
    pod_problem: str | None = None
    # IPs of its Ready pods, sorted: what canary analysis scrapes. Empty when none is Ready.
    pod_ips: tuple[str, ...] = ()

    def ready_for(self, replicas: int) -> bool:
        """All desired pods of the current spec are Ready."""
        return (
            self.current
            and self.replicas == replicas
            and self.updated_replicas >= replicas
            and self.ready_replicas >= replicas
        )


@dataclass(frozen=True)
class ObservedService:
    name: str
    selector: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedAnalysis:
    """One analysis window's metrics, read this tick because a window was due.

    Taken by modelpilot.operator.live outside plan() (it is I/O); plan() only judges it.
    """

    # The canary's and stable's answers; None when that side was not queried (the other
    # side's query failed first) — `error` then says why.
    canary: Sample | None = None
    stable: Sample | None = None
    # Why the metrics could not be read (no pod answered, Prometheus down); None when read.
    error: str | None = None
    # The value of each spec.rollout.analysis.metrics check by name; None when its query
    # returned no data. Empty without checks (or when `error` is set).
    metrics: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Stall:
    """A permanent problem found outside plan(): only a person can clear it (Stalled=True)."""

    reason: ConditionReason  # NotOwned, RouterSpecInvalid, MetricsSpecInvalid (errors.py)
    message: str
    # Found by applying an action (NotOwned, a route the apiserver refused): it holds while
    # the plan still has actions to apply, and clears once the plan converges.
    until_converged: bool = False


@dataclass(frozen=True)
class ObservedProbe:
    """A data probe Job NAME-data-N (spec.training.dataset.watch) and what it reported."""

    name: str
    finished: bool = False  # Complete or Failed
    # The probe's report from its termination message; None while it runs, or when the
    # message is not a report (`problem` says why).
    report: DataProbeReport | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ObservedDrift:
    """The stable pods' input counts, read this tick because a monitoring window was due.

    Taken by modelpilot.operator.monitoring outside plan() (it is I/O); plan() only judges.
    Counts and shares are by feature, then bin label (modelpilot.api.drift).
    """

    revision: str  # the stable revision whose pods were scraped
    # Cumulative live counts by pod IP; empty when no pod answered (`error` says why).
    live: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)
    # The training reference's share of each bin, as the pods export it; empty when the
    # bundle has no reference (trained before drift monitoring existed).
    reference: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    error: str | None = None  # why the counts could not be read; None when read
    # The same pages' cumulative feedback counters (labels joined with predictions), by pod
    # IP; a pod without any has empty stats. Empty when no pod answered.
    feedback: Mapping[str, FeedbackStats] = field(default_factory=dict)


@dataclass(frozen=True)
class GateAnswer:
    """A rollout webhook's newest answer (spec.rollout.webhooks), taken outside plan() by
    modelpilot.operator.gates; plan() only decides (rollout.gates)."""

    ok: bool  # it answered 2xx
    detail: str  # "HTTP 200", "HTTP 403", "timed out after 5s", "connection refused"


@dataclass(frozen=True)
class World:
    """Everything plan() may know about the cluster, at one instant."""

    name: str
    namespace: str
    generation: int  # metadata.generation of the ModelDeployment
    annotations: Mapping[str, str] = field(default_factory=dict)
    jobs: Mapping[str, ObservedJob] = field(default_factory=dict)  # by revision ("v3")
    deployments: Mapping[str, ObservedDeployment] = field(default_factory=dict)  # by revision
    services: Mapping[str, ObservedService] = field(default_factory=dict)  # by name
    # From the operator's settings: fnmatch patterns an estimator path must match.
    estimator_allowlist: tuple[str, ...] = ("sklearn.*",)
    # The model store PVC when spec.modelStore is omitted; None when the operator has none.
    default_store_claim: str | None = None
    # Finished training Jobs kept for `kubectl logs` (from the operator's settings); older
    # ones whose outcome status already holds are deleted.
    finished_jobs_kept: int = 3
    # The platform's policy for tenant-chosen values (from the operator's settings; observe
    # always sets it). None: nothing is checked (a World built by hand in a test).
    policy: Policy | None = None
    # Labels of the store claim the spec names, read this tick; None when the claim does not
    # exist or was not read (the policy allows it without a label).
    store_claim_labels: Mapping[str, str] | None = None
    # The claim status remembers as found labelled (status.verifiedStoreClaim); its labels
    # are then not read again. None when none was.
    verified_store_claim: str | None = None
    # Labels of spec.training.dataset.pvc's claim, read this tick; None when it does not
    # exist or was not read (allowlisted, or status.verifiedDatasetClaim already names it).
    dataset_claim_labels: Mapping[str, str] | None = None
    # The dataset claim status remembers as found labelled (status.verifiedDatasetClaim).
    verified_dataset_claim: str | None = None
    # The split the traffic router carries now (read back from the route or the replica
    # counts); None when no canary is live, or the route could not be read (route_problem).
    route_weights: Weights | None = None
    # The header routes the route carries now (routers.headers.signature of each, in order);
    # None when no canary is live, the route could not be read, or its router has none.
    route_header_routes: tuple[str, ...] | None = None
    # Why the route could not be read (HTTPRoute missing, no rule to the stable Service);
    # None when it was read or not needed.
    route_problem: str | None = None
    # This tick's analysis window; None when no window was due (or the metrics spec cannot
    # work: see stall).
    analysis: ObservedAnalysis | None = None
    # A permanent problem the I/O edge found (a route or metrics spec that can never work,
    # an object of our name that someone else owns); None when there is none.
    stall: Stall | None = None
    # This tick's monitoring window of the stable pods; None when no window was due.
    drift: ObservedDrift | None = None
    # Data probe Jobs by name (spec.training.dataset.watch); empty when none exists.
    probes: Mapping[str, ObservedProbe] = field(default_factory=dict)
    # The newest answers of the webhooks of the gate the canary stands at (rollout.gates
    # .pending_gate), by URL; a webhook not asked yet is absent. Empty at no gate.
    gate_answers: Mapping[str, GateAnswer] = field(default_factory=dict)
