"""The ModelDeployment status, as typed values: the operator's only memory.

Everything the operator needs to continue after a restart lives here (the revision counter,
the last handled spec hash and retrain request, the candidate in flight, the canary step),
so a killed operator resumes exactly where it was. `hack/gen_crd.py` emits this schema into
the CRD: a real apiserver prunes status fields the schema does not declare, so every field
written must be declared here (a test writes a full status and reads it back).

Conventions (Kubernetes API conventions, so kstatus / Argo CD / Flux read health):
`observedGeneration`; conditions `Ready`, `Reconciling`, `Stalled` plus the domain ones
`Trained`, `Evaluated`, `CanaryHealthy`, `Drifted`; `stable` and `candidate` kept apart.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from modelpilot.api.gate import GateVerdict
from modelpilot.api.reasons import ConditionType

HISTORY_LIMIT = 10  # concluded revisions kept in status.history, newest first
ANALYSIS_WINDOWS_LIMIT = 5  # analysis windows kept in status.canary.analysis.windows
WORST_FEATURES_LIMIT = 5  # features kept in status.monitoring.worst
# Every message in status is cut to this many UTF-8 bytes: a message may quote something a
# tenant or a remote endpoint wrote (a trainer's last log lines, an error), and status must
# stay far below etcd's object limit whatever they wrote.
MESSAGE_LIMIT_BYTES = 1024
_ELLIPSIS = "…"


def cap_message(text: str) -> str:
    """`text`, cut to MESSAGE_LIMIT_BYTES of UTF-8 (ending in an ellipsis when cut)."""
    encoded = text.encode()
    if len(encoded) <= MESSAGE_LIMIT_BYTES:
        return text
    room = MESSAGE_LIMIT_BYTES - len(_ELLIPSIS.encode())
    return encoded[:room].decode(errors="ignore") + _ELLIPSIS


Message = Annotated[str, AfterValidator(cap_message)]


class Phase(StrEnum):
    """Where the ModelDeployment is in the life of its newest revision.

    The allowed transitions are one table in modelpilot.operator.rollout.phases.
    """

    PENDING = "Pending"  # accepted; no revision started yet
    TRAINING = "Training"  # the candidate's training Job runs (fit + gate scores on the holdout)
    DEPLOYING = "Deploying"  # the candidate passed the gate; its pods are becoming Ready
    CANARY = "Canary"  # traffic moves to the candidate step by step (status.canary)
    SERVING = "Serving"  # the stable model serves; nothing in flight
    REJECTED = "Rejected"  # the newest candidate failed the gate; stable (if any) serves
    FAILED = "Failed"  # the newest revision could not be trained/deployed, or the spec is invalid
    ROLLED_BACK = "RolledBack"  # the newest canary was aborted; stable serves

    @property
    def in_flight(self) -> bool:
        """A candidate is being trained, deployed or canaried."""
        return self in (Phase.TRAINING, Phase.DEPLOYING, Phase.CANARY)


class CandidateState(StrEnum):
    """What became of a candidate revision; also each history entry's outcome."""

    TRAINING = "Training"
    DEPLOYING = "Deploying"
    CANARY = "Canary"
    PROMOTED = "Promoted"  # became stable
    REJECTED = "Rejected"  # the gate said no
    FAILED = "Failed"  # training or deployment failed
    SUPERSEDED = "Superseded"  # a newer revision started before this one concluded
    ROLLED_BACK = "RolledBack"  # the canary was aborted


class FailureReason(StrEnum):
    """Why a candidate failed or was rolled back: the Stalled/Trained/CanaryHealthy reason."""

    TRAINING_FAILED = "TrainingFailed"  # the Job failed or its summary is unusable
    TRAINING_TIMED_OUT = "TrainingTimedOut"  # spec.training.activeDeadlineSeconds passed
    # spec.training.pretrained refused: missing, wrong digest, versions, not an estimator
    PRETRAINED_REFUSED = "PretrainedModelRefused"
    DEPLOYMENT_FAILED = "DeploymentFailed"  # the serving pods never became Ready
    ABORTED = "Aborted"  # `modelpilot abort`
    ANALYSIS_FAILED = "AnalysisFailed"  # failureLimit failed analysis windows
    ANALYSIS_INCONCLUSIVE = (
        "AnalysisInconclusive"  # inconclusiveLimit windows, onInconclusive: Abort
    )


class Trigger(StrEnum):
    """Why a revision started."""

    CREATED = "Created"  # the first revision of a new ModelDeployment
    SPEC_CHANGED = "SpecChanged"  # spec.training or spec.evaluation changed
    RETRAIN_REQUESTED = "RetrainRequested"  # the retrain annotation got a new value
    SCHEDULED = "Scheduled"  # spec.training.schedule fired
    PINNED = "Pinned"  # spec.serving.pinRevision brought an earlier revision back (no training)
    DRIFTED = "Drifted"  # the live inputs drifted from the training data (retrainOnDrift)
    DATA_CHANGED = "DataChanged"  # the watched dataset's content changed (dataset.watch)
    DEGRADED = "Degraded"  # the live metric from fed-back labels fell past its threshold


class StatusModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class Condition(StatusModel):
    """A metav1.Condition."""

    type: ConditionType = Field(
        description="Ready, Reconciling, Stalled, Trained, Evaluated, CanaryHealthy, Drifted."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the status.")
    message: Message = Field("", description="What happened and what a person can do about it.")
    last_transition_time: datetime = Field(description="When the status last changed.")
    observed_generation: int | None = Field(
        None, description="The metadata.generation this condition was computed for."
    )


class StableStatus(StatusModel):
    """The model that serves."""

    revision: str = Field(description="v1, v2, ...")
    model_sha256: str = Field(description="Digest of model.joblib; serving pods verify it.")
    metric: str | None = Field(None, description="The gate metric.")
    score: float | None = Field(None, description="The gate metric on the revision's holdout.")
    deployment: str = Field(description="The serving Deployment (NAME-vN).")
    service: str = Field(description="The Service that selects the stable pods (NAME).")
    spec_hash: str | None = Field(None, description="Hash of the training+evaluation spec.")
    trigger: Trigger | None = Field(None, description="Why this revision started.")
    promoted_at: datetime | None = Field(None, description="When it became stable.")
    training_data_sha256: str | None = Field(
        None, description="Fingerprint of the data it was trained on."
    )


class CandidateStatus(StatusModel):
    """The newest revision that is not stable: in flight, or how it ended."""

    revision: str = Field(description="v1, v2, ...")
    state: CandidateState = Field(description="Training, Deploying, Canary, or how it ended.")
    trigger: Trigger = Field(description="Why this revision started.")
    spec_hash: str = Field(description="Hash of the training+evaluation spec it was trained from.")
    estimator: str | None = Field(None, description="spec.training.estimator it was trained with.")
    params: dict[str, Any] | None = Field(
        None, description="spec.training.params it was trained with (what `modelpilot diff` shows)."
    )
    job: str = Field(description="The training Job (NAME-train-vN).")
    started_at: datetime = Field(description="When the revision started.")
    finished_at: datetime | None = Field(None, description="When it concluded.")
    model_sha256: str | None = Field(None, description="Digest of the trained model.joblib.")
    metric: str | None = Field(None, description="The gate metric.")
    candidate_score: float | None = Field(None, description="The candidate's gate metric.")
    stable_revision: str | None = Field(None, description="The stable it was compared with.")
    stable_score: float | None = Field(None, description="Stable's metric on the same holdout.")
    delta: float | None = Field(
        None, description="candidate - stable, signed so that positive means better."
    )
    threshold: float | None = Field(None, description="The threshold it was judged against.")
    holdout_sha256: str | None = Field(None, description="Fingerprint of the shared holdout.")
    training_data_sha256: str | None = Field(
        None, description="Fingerprint of the data it was trained on."
    )
    verdict: GateVerdict | None = Field(
        None, description="Passed, BelowThreshold, WorseThanStable."
    )
    message: Message | None = Field(None, description="The gate's or the failure's explanation.")
    failure_reason: FailureReason | None = Field(
        None,
        description="Why it failed or was rolled back (TrainingFailed, DeploymentFailed, "
        "AnalysisFailed, ...); unset otherwise.",
    )
    failure_detail: Message | None = Field(
        None,
        description="What went wrong, without the reason that starts the message; unset otherwise.",
    )
    deployment: str | None = Field(None, description="Its serving Deployment, once created.")


class AnalysisWindow(StatusModel):
    """One analysis window of a canary."""

    started_at: datetime = Field(description="Window start.")
    ended_at: datetime | None = Field(None, description="Window end.")
    verdict: Literal["Passed", "Failed", "Inconclusive"] = Field(
        description="The window's verdict."
    )
    canary_requests: int | None = Field(None, description="Canary requests in the window.")
    stable_requests: int | None = Field(None, description="Stable requests in the window.")
    canary_error_rate: float | None = Field(None, description="Canary 5xx fraction.")
    stable_error_rate: float | None = Field(None, description="Stable 5xx fraction.")
    canary_client_error_rate: float | None = Field(None, description="Canary 4xx fraction.")
    stable_client_error_rate: float | None = Field(None, description="Stable 4xx fraction.")
    canary_latency_p99_ms: float | None = Field(None, description="Canary p99 latency.")
    stable_latency_p99_ms: float | None = Field(None, description="Stable p99 latency.")
    prediction_psi: float | None = Field(None, description="PSI of canary vs stable predictions.")
    metrics: dict[str, float] | None = Field(
        None, description="The values of spec.rollout.analysis.metrics, by name."
    )
    message: Message | None = Field(None, description="Why it passed, failed or was inconclusive.")


class AnalysisStatus(StatusModel):
    """Counters and the last windows of the canary analysis."""

    failures: int = Field(0, description="Failed windows so far.")
    inconclusive: int = Field(0, description="Inconclusive windows so far.")
    last_window_at: datetime | None = Field(None, description="When the last window ended.")
    windows: list[AnalysisWindow] = Field(
        default_factory=list, description="The last windows, newest first."
    )
    canary_snapshot: dict[str, Any] | None = Field(
        None,
        description="The canary pods' cumulative serving counters at the last scrape, by pod "
        "IP (the pods metrics source subtracts them to get the next window).",
    )
    stable_snapshot: dict[str, Any] | None = Field(
        None, description="The stable pods' cumulative serving counters at the last scrape."
    )


class GateStatus(StatusModel):
    """The rollout webhook gate the canary waits at, or the last one it passed."""

    type: Literal["pre-rollout", "confirm-promotion"] = Field(description="Which gate.")
    state: Literal["Held", "Passed"] = Field(
        description="Held: a webhook did not answer 2xx (yet); Passed: every one did."
    )
    message: Message = Field("", description="The webhooks' answers (URL and HTTP status).")
    since: datetime | None = Field(None, description="When it entered this state.")


class CanaryStatus(StatusModel):
    """Progress of the canary: step index and weights, so a restart resumes there."""

    revision: str = Field(description="The canary revision.")
    step_index: int = Field(0, description="Index into spec.rollout.steps of the current step.")
    step_started_at: datetime | None = Field(None, description="When the current step started.")
    step: str | None = Field(
        None, description="The current step in words: setWeight 20, pause 30s, pause, promote."
    )
    weight: int = Field(0, description="Desired canary weight, percent.")
    actual_weight: int | None = Field(
        None, description="Weight the router really gives the canary (replicas router rounding)."
    )
    stable_replicas: int | None = Field(None, description="Stable pods (replicas router).")
    canary_replicas: int | None = Field(None, description="Canary pods (replicas router).")
    paused: bool = Field(False, description="Waiting for `modelpilot promote`.")
    gate: GateStatus | None = Field(
        None, description="The webhook gate (spec.rollout.webhooks) it waits at or last passed."
    )
    gates_passed: list[str] = Field(
        default_factory=list,
        description="The gate types this canary has passed (each is asked until it passes).",
    )
    header_routes: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The header routes the canary's setHeaderRoute steps set (name and "
        "match, as in the step), kept on the route until promotion or abort.",
    )
    analysis: AnalysisStatus = Field(
        default_factory=AnalysisStatus, description="Live analysis of the canary."
    )
    message: Message | None = Field(None, description="What the canary waits for.")
    rollout: dict[str, Any] | None = Field(
        None,
        description="spec.rollout's trafficRouter and steps as they were when the canary "
        "started: the canary runs, and ends, with these; an edit applies to the next revision.",
    )
    elapsed_seconds: float = Field(
        0.0,
        description="Seconds the current step has lasted, added up tick by tick with each "
        "gap bounded, so a clock jump neither ends a pause early nor stalls it.",
    )
    window_elapsed_seconds: float = Field(
        0.0, description="Seconds since the last analysis window, added up the same way."
    )
    observed_at: datetime | None = Field(
        None, description="The clock reading of the last tick that added up elapsed time."
    )


class HistoryEntry(StatusModel):
    """A concluded revision."""

    revision: str = Field(description="v1, v2, ...")
    outcome: CandidateState = Field(description="Promoted, Rejected, Failed, Superseded, ...")
    trigger: Trigger | None = Field(None, description="Why it started.")
    started_at: datetime | None = Field(None, description="When it started.")
    finished_at: datetime | None = Field(None, description="When it concluded.")
    metric: str | None = Field(None, description="The gate metric.")
    score: float | None = Field(None, description="Its gate metric.")
    stable_score: float | None = Field(None, description="Stable's metric on the same holdout.")
    model_sha256: str | None = Field(
        None,
        description="Digest of its model.joblib: what a pin (spec.serving.pinRevision) "
        "serves again, and verifies before loading.",
    )
    spec_hash: str | None = Field(
        None, description="Hash of the training+evaluation spec it was trained from."
    )
    estimator: str | None = Field(None, description="spec.training.estimator it was trained with.")
    params: dict[str, Any] | None = Field(
        None, description="spec.training.params it was trained with (what `modelpilot diff` shows)."
    )
    holdout_sha256: str | None = Field(None, description="Fingerprint of its holdout.")
    training_data_sha256: str | None = Field(
        None, description="Fingerprint of the data it was trained on."
    )
    message: Message | None = Field(None, description="Why it ended so.")


class FeatureDrift(StatusModel):
    """One feature's drift in the last monitoring window."""

    feature: str = Field(description="The input feature.")
    psi: float = Field(description="Population stability index of the window vs training.")


class PerformanceWindow(StatusModel):
    """The labelled rows one monitoring window added, as sufficient statistics."""

    ended_at: datetime = Field(description="When the window ended.")
    confusion: list[list[Any]] | None = Field(
        None,
        description="Classifiers: [label, predicted, count] for each pair seen in the window.",
    )
    sums: dict[str, float] | None = Field(
        None,
        description="Regressors: rows, absError, squaredError, label, labelSquared summed "
        "over the window's labelled rows.",
    )


class PerformanceStatus(StatusModel):
    """The live value of the gate's metric from fed-back labels (spec.monitoring.performance)."""

    revision: str | None = Field(None, description="The stable revision it is of.")
    metric: str | None = Field(None, description="The gate metric (spec.evaluation.metric).")
    value: float | None = Field(
        None, description="Its value over the sliding window; None when too few labels."
    )
    count: int | None = Field(None, description="Labelled rows in the sliding window.")
    threshold: float | None = Field(None, description="spec.monitoring.performance.threshold.")
    degraded: bool | None = Field(None, description="The verdict; None when not judged.")
    message: Message | None = Field(None, description="The verdict in words.")
    windows: list[PerformanceWindow] = Field(
        default_factory=list,
        description="The monitoring windows within spec.monitoring.performance.window, newest "
        "first (at most 120).",
    )
    snapshot: dict[str, Any] | None = Field(
        None,
        description="The stable pods' cumulative feedback counters at the last scrape, by pod "
        "IP (the next window is the difference).",
    )


class MonitoringStatus(StatusModel):
    """Drift of the stable model's live inputs (spec.monitoring)."""

    revision: str | None = Field(None, description="The stable revision the window is of.")
    window_started_at: datetime | None = Field(None, description="Start of the last window.")
    last_window_at: datetime | None = Field(None, description="End of the last window.")
    requests: int | None = Field(None, description="Input rows counted in the last window.")
    drifted: bool | None = Field(
        None, description="The last window's verdict; None when it was too small to judge."
    )
    worst: list[FeatureDrift] = Field(
        default_factory=list,
        description=f"The features with the highest PSI, highest first (at most "
        f"{WORST_FEATURES_LIMIT}).",
    )
    message: Message | None = Field(None, description="The verdict in words.")
    last_retrain_at: datetime | None = Field(
        None, description="When drift last started a revision (the cooldown counts from it)."
    )
    snapshot: dict[str, Any] | None = Field(
        None,
        description="The stable pods' cumulative input counts at the last scrape, by pod IP "
        "then feature then bin (the next window is the difference).",
    )
    performance: PerformanceStatus | None = Field(
        None,
        description="The live value of the gate's metric from fed-back labels "
        "(spec.monitoring.performance).",
    )


class DataWatchStatus(StatusModel):
    """The watched dataset (spec.training.dataset.watch): both fingerprints and the probe."""

    trained_sha256: str | None = Field(
        None, description="Fingerprint of the data the newest trained revision used."
    )
    observed_sha256: str | None = Field(
        None, description="Fingerprint the last probe reported for the dataset as it is now."
    )
    signals: dict[str, str] | None = Field(
        None, description="The cheap signals (size, mtime, ETag) the last probe saw."
    )
    hashed: bool | None = Field(
        None, description="The last probe hashed the content (False: the signals were unchanged)."
    )
    last_probe_at: datetime | None = Field(None, description="When the last probe reported.")
    probe_job: str | None = Field(None, description="The probe Job running now.")
    probes: int = Field(0, description="Probe Jobs started so far (names NAME-data-N).")
    triggered_sha256: str | None = Field(
        None, description="The fingerprint that last started a DataChanged revision."
    )
    message: Message | None = Field(None, description="The last probe's outcome in words.")


class ModelDeploymentStatus(StatusModel):
    """Observed state of a ModelDeployment, written only by the operator."""

    observed_generation: int | None = Field(
        None, description="The metadata.generation the operator last acted on."
    )
    phase: Phase = Field(Phase.PENDING, description="Where the newest revision is.")
    message: Message | None = Field(None, description="One line a person reads first.")
    revision_counter: int = Field(
        0, description="The last revision number handed out (persisted before its Job exists)."
    )
    last_spec_hash: str | None = Field(
        None, description="Hash of spec.training+evaluation the newest revision started from."
    )
    last_retrain_request: str | None = Field(
        None, description="The retrain annotation value that was last acted on."
    )
    last_revision_started_at: datetime | None = Field(
        None, description="When the newest revision started (the schedule counts from it)."
    )
    last_promote_request: str | None = Field(
        None, description="The promote annotation value that was last acted on."
    )
    last_abort_request: str | None = Field(
        None, description="The abort annotation value that was last acted on."
    )
    next_scheduled_at: datetime | None = Field(
        None, description="When spec.training.schedule fires next."
    )
    verified_store_claim: str | None = Field(
        None,
        description="The model-store claim found labelled modelpilot.dev/model-store=true; "
        "read once, not on every tick.",
    )
    verified_dataset_claim: str | None = Field(
        None,
        description="The dataset claim (spec.training.dataset.pvc) found labelled "
        "modelpilot.dev/dataset=true; read once, not on every tick.",
    )
    stable: StableStatus | None = Field(None, description="The model that serves.")
    candidate: CandidateStatus | None = Field(
        None, description="The newest revision that is not stable."
    )
    canary: CanaryStatus | None = Field(None, description="The canary in progress.")
    monitoring: MonitoringStatus | None = Field(
        None, description="Drift of the live inputs (spec.monitoring)."
    )
    data_watch: DataWatchStatus | None = Field(
        None, description="The watched dataset (spec.training.dataset.watch)."
    )
    history: list[HistoryEntry] = Field(
        default_factory=list,
        description=f"Concluded revisions, newest first (at most {HISTORY_LIMIT}).",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="metav1.Conditions: Ready, Reconciling, Stalled (kstatus), and Trained, "
        "Evaluated, CanaryHealthy, Drifted, Degraded.",
    )

    def condition(self, type_: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


def parse_status(raw: dict[str, Any] | None) -> ModelDeploymentStatus:
    """Parse what the apiserver holds; an empty or foreign status starts from scratch."""
    return ModelDeploymentStatus.model_validate(raw or {})


def dump_status(status: ModelDeploymentStatus) -> dict[str, Any]:
    """The JSON the operator writes to the status subresource (camelCase, no nulls).

    Validated once more on the way out: plan() builds status with model_copy(update=...),
    which skips validators, and this is where every message gets its cap.
    """
    checked = ModelDeploymentStatus.model_validate(status.model_dump(mode="json"))
    return checked.model_dump(mode="json", by_alias=True, exclude_none=True)
