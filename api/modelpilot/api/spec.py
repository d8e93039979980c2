"""The ModelDeployment spec, as typed values.

These models are the single source of the API: the operator and trainer parse specs with
them, and `hack/gen_crd.py` turns them (descriptions included) into the CRD's
openAPIV3Schema. Field names are the CRD's camelCase ones; Python attributes are snake_case.
Rules a schema alone cannot state are checked here *and* emitted as CEL rules, so
`kubectl apply` and the operator reject the same specs with the same words.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from modelpilot.api import names
from modelpilot.api.duration import DURATION_PATTERN, parse_duration
from modelpilot.api.metrics import BOUNDED_METRICS, METRICS, metric_info
from modelpilot.api.notification_spec import MAX_NOTIFICATIONS, Notification, NotificationEvent
from modelpilot.api.pod_spec import PodPlacement, Resources
from modelpilot.api.rollout_spec import (
    MAX_STEPS,
    Analysis,
    AnalysisMetric,
    GatewayAPIRouter,
    HeaderRouteMatch,
    HeaderValue,
    IstioRouter,
    MetricsSourceSpec,
    Pause,
    PrometheusSource,
    ReplicasRouter,
    Rollout,
    RolloutWebhook,
    SetHeaderRoute,
    Step,
    ThresholdRange,
    TrafficRouter,
    TrafficRouterKind,
    WebhookType,
)
from modelpilot.api.spec_model import SpecModel, cel, rule

# --- object storage (S3) ----------------------------------------------------------------

S3_BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"
S3_PREFIX_PATTERN = r"^([A-Za-z0-9!_.*'()\-]+(/[A-Za-z0-9!_.*'()\-]+)*)?$"
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class S3Access(SpecModel):
    """How pods reach an S3-compatible service. The operator never reads the Secret: the
    pods that need it (trainer, data probe, the serving pods' fetch-bundle step) get its
    keys as environment variables, so the operator's RBAC has no Secret access."""

    endpoint: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+/?$",
        description="The S3 API's URL, scheme://host[:port] (MinIO, Ceph, a cloud's S3 "
        "endpoint); AWS when omitted.",
        examples=["http://minio.storage:9000"],
    )
    region: str | None = Field(
        None, pattern=r"^[a-z0-9-]+$", description="The bucket's region, e.g. eu-west-1."
    )
    credentials_secret: str | None = Field(
        None,
        max_length=253,
        pattern=SECRET_NAME_PATTERN,
        description="A Secret in the ModelDeployment's namespace with the keys "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and optionally AWS_SESSION_TOKEN). "
        "Only the pods mount it. When omitted the pods use the SDK's default credential "
        "chain (AWS_* variables, a web identity token such as EKS IRSA's, the instance "
        "metadata service): give the pods a ServiceAccount bound to a cloud identity "
        "(spec.training.pod / spec.serving.pod serviceAccountName).",
    )


class S3Store(S3Access):
    """Bundles in an S3 bucket, at s3://BUCKET/PREFIX/NAMESPACE/NAME/UID/vN/."""

    bucket: str = Field(
        pattern=S3_BUCKET_PATTERN, description="The bucket (it must exist).", examples=["models"]
    )
    prefix: str = Field(
        "",
        max_length=512,
        pattern=S3_PREFIX_PATTERN,
        description="Key prefix below which bundles go, without leading or trailing '/'.",
        examples=["team-a/modelpilot"],
    )


def is_s3_uri(uri: str | None) -> bool:
    return uri is not None and uri.startswith("s3://")


# --- training -------------------------------------------------------------------------


class DatasetWatch(SpecModel):
    """Retrain when the dataset's content changes."""

    interval: str = Field(
        "10m",
        pattern=DURATION_PATTERN,
        description="How often a short probe Job (the trainer image, `modelpilot train "
        "--fingerprint-only`) checks the dataset where it lives: size/mtime/ETag first, the "
        "content hash only when they changed.",
    )

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)


CLAIM_NAME_PATTERN = SECRET_NAME_PATTERN  # a DNS subdomain, as every object name
# A dataset path inside its claim: relative, never climbing out with '..'.
DATASET_PATH_RULE = "!self.path.startsWith('/') && !self.path.matches('(^|/)[.][.](/|$)')"


def dataset_path_problem(path: str) -> str | None:
    """Why a spec.training.dataset.pvc.path is refused (the CEL rule's check), or None."""
    if path.startswith("/"):
        return "is absolute; name it relative to the claim's root"
    if ".." in path.split("/"):
        return "climbs out of the claim with '..'"
    return None


class DatasetClaim(SpecModel):
    """Training data on a PersistentVolumeClaim of its own, mounted read-only."""

    model_config = cel(
        rule(
            DATASET_PATH_RULE,
            "spec.training.dataset.pvc.path must be relative to the claim's root and must not "
            "contain '..'",
            ".path",
        ),
    )

    claim_name: str = Field(
        max_length=253,
        pattern=CLAIM_NAME_PATTERN,
        description="A PersistentVolumeClaim in the ModelDeployment's namespace, labelled "
        f"{names.LABEL_DATASET}=true (or named by the operator's dataset claim allowlist). It "
        "is mounted read-only into the trainer and the data probe at "
        f"{names.DATASET_MOUNT_PATH}; the model-store claim is never accepted here.",
        examples=["sales-data"],
    )
    path: str = Field(
        min_length=1,
        max_length=1024,
        description="The data inside the claim, relative to its root: a CSV or Parquet file "
        "(sales.csv), a directory of parts or a partitioned Parquet data set "
        "(sales/, with year=2026/ subdirectories becoming columns), or a glob "
        "(sales/2026-*/part-*.parquet).",
        examples=["sales.csv"],
    )

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        problem = dataset_path_problem(value)
        if problem is not None:
            raise ValueError(f"dataset.pvc.path {value!r} {problem}")
        return value


class Dataset(SpecModel):
    """Where the training data comes from: exactly one of `builtin`, `uri` or `pvc`."""

    model_config = cel(
        rule(
            "!has(self.watch) || has(self.uri) || has(self.pvc)",
            "spec.training.dataset.watch needs dataset.uri or dataset.pvc (a builtin dataset "
            "never changes)",
            ".watch",
        ),
        rule(
            "[has(self.builtin), has(self.uri), has(self.pvc)].filter(x, x).size() == 1",
            "spec.training.dataset needs exactly one of builtin, uri or pvc",
        ),
        rule(
            "!(has(self.uri) || has(self.pvc)) || has(self.target)",
            "spec.training.dataset.target is required with dataset.uri or dataset.pvc",
        ),
        rule(
            "!has(self.s3) || (has(self.uri) && self.uri.startsWith('s3://'))",
            "spec.training.dataset.s3 applies only to an s3:// dataset.uri",
            ".s3",
        ),
    )

    builtin: str | None = Field(
        None,
        description="A dataset bundled with scikit-learn: iris, wine, breast_cancer, "
        "diabetes, digits, linnerud.",
        examples=["iris"],
    )
    uri: str | None = Field(
        None,
        description="CSV or Parquet data in S3 or inside the model store: an object "
        "(s3://bucket/sales.parquet), a prefix ending in '/' whose objects are the parts "
        "(s3://bucket/sales/, Hive partitions such as year=2026/ become columns), or a glob "
        "(s3://bucket/sales/2026-*/part-*.parquet; '*' stays within one '/' segment). A "
        "local path (file:///models/data/x.csv) must lie inside the model store; use "
        "dataset.pvc for data on a claim of its own.",
    )
    pvc: DatasetClaim | None = Field(
        None,
        description="Data on a PersistentVolumeClaim of its own (claimName, path), mounted "
        "read-only into the trainer and the data probe.",
    )
    format: Literal["csv", "parquet"] | None = Field(
        None,
        description="File format; inferred from the file's (or the parts') extension when omitted.",
    )
    target: str | None = Field(
        None, description="The label column (required with `uri` and `pvc`)."
    )
    features: list[str] | None = Field(
        None, description="Feature columns to use; all columns but the target when omitted."
    )
    s3: S3Access | None = Field(
        None,
        description="How the pods reach an s3:// dataset.uri (endpoint, region, the "
        "credentials Secret); spec.modelStore.s3's when omitted.",
    )
    watch: DatasetWatch | None = Field(
        None,
        description="Start a new revision (trigger DataChanged) when the dataset's content "
        "differs from what the newest revision was trained on. Rows of a watched dataset go "
        "to the holdout by a hash of their content, so a row keeps its side across revisions.",
    )
    include: list[Literal["feedback"]] | None = Field(
        None,
        max_length=1,
        description="More rows appended to the dataset: `feedback` adds the logged "
        "predictions (spec.monitoring.logging) that received a label through "
        "POST /v2/models/NAME/feedback, their features as logged and the label as target, "
        "deduplicated by request id. The data then differs from what stable was trained on, "
        "so the holdout is taken by a hash of each row's content.",
    )

    @property
    def includes_feedback(self) -> bool:
        return self.include is not None and "feedback" in self.include

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Dataset:
        if [self.builtin, self.uri, self.pvc].count(None) != 2:
            raise ValueError("dataset needs exactly one of builtin, uri or pvc")
        if (self.uri is not None or self.pvc is not None) and not self.target:
            raise ValueError("dataset.target is required with dataset.uri or dataset.pvc")
        if self.watch is not None and self.builtin is not None:
            raise ValueError(
                "dataset.watch needs dataset.uri or dataset.pvc (a builtin dataset never changes)"
            )
        if self.s3 is not None and not is_s3_uri(self.uri):
            raise ValueError("dataset.s3 applies only to an s3:// dataset.uri")
        return self

    @property
    def location(self) -> str:
        """Where the data is, as people read it: builtin:iris, the URI, or pvc://CLAIM/PATH."""
        if self.pvc is not None:
            return f"pvc://{self.pvc.claim_name}/{self.pvc.path}"
        return self.uri or f"builtin:{self.builtin}"


# Five cron fields of numbers, ranges, lists, steps, '*' and names; also the @-shorthands.
CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
    r"([0-9A-Za-z*,/\-]+\s+){4}[0-9A-Za-z*,/\-]+)$"
)


def is_valid_cron(expression: str) -> bool:
    return re.fullmatch(CRON_PATTERN, expression.strip()) is not None


class PreprocessingStep(SpecModel):
    """One transformer applied before the estimator (the steps build a Pipeline)."""

    transformer: str = Field(
        description="A scikit-learn transformer class: StandardScaler, MinMaxScaler, "
        "OneHotEncoder, or a full import path such as sklearn.preprocessing.RobustScaler."
    )
    columns: list[str] | None = Field(
        None,
        description="Feature columns it applies to. When omitted: every feature column "
        "that no other step names in its columns (so [StandardScaler, {OneHotEncoder, "
        "columns: [colour]}] scales the other columns and encodes colour). Steps that apply "
        "to a column run in spec order; columns no step applies to pass through unchanged. "
        "A non-numeric column must reach an encoder.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the transformer."
    )


SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"
PRETRAINED_URI_PATTERN = r"^(/|file:///|s3://)\S+$"

PRETRAINED_BAD_SHA256 = (
    "spec.training.pretrained.sha256 must be a sha256 digest: 64 hexadecimal characters, as "
    "`sha256sum FILE` prints them"
)
TRAINING_NEEDS_ONE_MODEL = "spec.training needs exactly one of estimator or pretrained"
PRETRAINED_HAS_PARAMS = (
    "spec.training.params applies to an estimator trained here, not to spec.training.pretrained "
    "(a model trained elsewhere comes with its params)"
)
PRETRAINED_HAS_PREPROCESSING = (
    "spec.training.preprocessing applies to an estimator trained here, not to "
    "spec.training.pretrained (put the transformers in the pipeline you pickle)"
)


class Pretrained(SpecModel):
    """A model trained elsewhere (a notebook, another pipeline): served through the same
    gate, canary and bundle as a model trained here, never refitted."""

    model_config = cel(
        rule(
            "self.sha256.matches('" + SHA256_PATTERN + "')",
            PRETRAINED_BAD_SHA256,
            ".sha256",
        ),
    )

    uri: str = Field(
        pattern=PRETRAINED_URI_PATTERN,
        max_length=1024,
        description="A joblib or pickle file of a fitted scikit-learn estimator or Pipeline, "
        "or an MLflow scikit-learn model directory (MLmodel + model.pkl): an absolute path "
        "inside the model-store claim (/models/..., file:///models/...), or s3://bucket/key "
        "with spec.modelStore.s3 (read with the store's access).",
        examples=["/models/pretrained/churn.joblib"],
    )
    sha256: str = Field(
        # No schema pattern: the CEL rule's message says what a digest looks like.
        json_schema_extra={"maxLength": 64},
        description="The sha256 of that file (for an MLflow directory: of the pickle its "
        "MLmodel names, model.pkl), as `sha256sum` prints it. Checked before anything is "
        "unpickled: a file with another digest never runs. A new model is a new digest, so "
        "a new revision.",
    )

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if re.fullmatch(SHA256_PATTERN, value) is None:
            raise ValueError(f"{PRETRAINED_BAD_SHA256} (got {value[:80]!r})")
        return value.lower()

    @property
    def is_s3(self) -> bool:
        return is_s3_uri(self.uri)


class Training(SpecModel):
    """What to train (or which model trained elsewhere to take). A change here starts a new
    revision."""

    model_config = cel(
        rule(
            "!has(self.schedule) || self.schedule.matches(r'" + CRON_PATTERN + "')",
            "spec.training.schedule is not a five-field cron expression (e.g. '0 3 * * *')",
            ".schedule",
        ),
        rule("has(self.estimator) != has(self.pretrained)", TRAINING_NEEDS_ONE_MODEL),
        rule(
            # params preserves unknown fields: CEL has no size() for it, so any params is
            # refused (even {}), where the operator's parse lets an empty one pass.
            "!has(self.pretrained) || !has(self.params)",
            PRETRAINED_HAS_PARAMS,
            ".params",
        ),
        rule(
            "!has(self.pretrained) || !has(self.preprocessing) || size(self.preprocessing) == 0",
            PRETRAINED_HAS_PREPROCESSING,
            ".preprocessing",
        ),
    )

    dataset: Dataset = Field(
        description="The training data; with `pretrained`, the data it is evaluated on (its "
        "holdout rows, cut as for training, so stable is scored on the same rows)."
    )
    estimator: str | None = Field(
        None,
        description="Import path of a scikit-learn estimator class, e.g. "
        "sklearn.ensemble.RandomForestClassifier. Must match the operator's allowlist. "
        "Exactly one of estimator or pretrained.",
        min_length=1,
    )
    pretrained: Pretrained | None = Field(
        None,
        description="Take a model trained elsewhere instead of training one: its digest is "
        "checked, it is evaluated on the dataset's holdout, gated, canaried and served like "
        "a trained revision (docs/pretrained.md). Exactly one of estimator or pretrained; "
        "no params or preprocessing with it.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for the estimator; checked against its signature.",
    )
    preprocessing: list[PreprocessingStep] = Field(
        default_factory=list, description="Transformers applied before the estimator."
    )
    test_size: float = Field(
        0.25, gt=0, lt=1, description="Fraction of rows held out for evaluation."
    )
    sample_weight: str | None = Field(
        None,
        description="A column of the dataset holding each row's weight (a number >= 0, "
        "none missing). It is never a feature: the estimator is fitted with it "
        "(sample_weight) and every metric of the gate weighs the holdout's rows by it, for "
        "the candidate and the stable model alike.",
        min_length=1,
    )
    random_state: int = Field(
        0, description="Seed for the split (and the estimator unless params set one)."
    )
    schedule: str | None = Field(
        None,
        description="Retrain on this cron schedule (five fields, UTC), e.g. '0 3 * * *'.",
    )
    image: str | None = Field(
        None, description="Trainer image; the operator's default when omitted."
    )
    resources: Resources | None = Field(None, description="Resources of the training container.")
    pod: PodPlacement | None = Field(
        None,
        description="Placement and identity of the training and data-probe pods (node "
        "selector, tolerations, affinity, priority, ServiceAccount, ...).",
    )
    active_deadline_seconds: int = Field(
        3600, ge=1, description="The training Job fails after this many seconds."
    )
    backoff_limit: int = Field(
        1, ge=0, le=10, description="Retries of a failed training pod before the Job fails."
    )

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_cron(value):
            raise ValueError(
                f"schedule {value!r} is not a five-field cron expression (e.g. '0 3 * * *')"
            )
        return value

    @model_validator(mode="after")
    def _one_model(self) -> Training:
        if (self.estimator is None) == (self.pretrained is None):
            raise ValueError(TRAINING_NEEDS_ONE_MODEL)
        if self.pretrained is not None and self.params:
            raise ValueError(PRETRAINED_HAS_PARAMS)
        if self.pretrained is not None and self.preprocessing:
            raise ValueError(PRETRAINED_HAS_PREPROCESSING)
        return self


# --- evaluation -----------------------------------------------------------------------


class Evaluation(SpecModel):
    """The offline gate a candidate must pass before it serves."""

    model_config = cel(
        rule(
            "!has(self.threshold) || !(self.metric in ["
            + ", ".join(f"'{m}'" for m in BOUNDED_METRICS)
            + "]) || (self.threshold >= 0.0 && self.threshold <= 1.0)",
            "spec.evaluation.threshold must be within [0, 1] for bounded metrics ("
            + ", ".join(BOUNDED_METRICS)
            + ")",
            ".threshold",
        ),
    )

    metric: str = Field(
        description="Gate metric: " + ", ".join(METRICS) + ".",
        json_schema_extra={"enum": list(METRICS)},
    )
    threshold: float | None = Field(
        None,
        description="The candidate's metric must reach this (for lower-is-better metrics "
        "such as rmse: must not exceed it). Within [0, 1] for bounded metrics.",
    )
    must_beat_stable: bool = Field(
        True,
        description="The candidate must be no worse than the serving model on the same "
        "holdout (champion/challenger).",
    )
    tolerance: float = Field(
        0.0, ge=0, description="How much worse than stable a candidate may be and still pass."
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        metric_info(value)
        return value

    @model_validator(mode="after")
    def _bounded_threshold(self) -> Evaluation:
        bounded = metric_info(self.metric).bounded
        if self.threshold is not None and bounded and not 0 <= self.threshold <= 1:
            raise ValueError(
                f"evaluation.threshold {self.threshold} is outside [0, 1] for {self.metric}"
            )
        return self


# --- serving --------------------------------------------------------------------------


# The server's own default (modelpilot serve --max-batch-rows); the two must stay equal, and a
# test checks that they do.
DEFAULT_MAX_BATCH_ROWS = 1024
REVISION_PATTERN = r"^v[1-9][0-9]{0,8}$"  # v1, v2, ... (names.revision_name)


# The per-pod metric an autoscaling/v2 HPA reads for targetRequestsPerSecond: a custom
# metrics adapter (e.g. prometheus-adapter) serves it as the rate of the serving pods'
# modelpilot_requests_total (docs/autoscaling.md).
REQUESTS_PER_SECOND_METRIC = "modelpilot_requests_per_second"


class Autoscaling(SpecModel):
    """An autoscaling/v2 HorizontalPodAutoscaler for the stable Deployment; the operator
    then leaves its replica count to the HPA."""

    model_config = cel(
        rule(
            "has(self.targetCPUUtilizationPercentage) != has(self.targetRequestsPerSecond)",
            "spec.serving.autoscaling needs exactly one of targetCPUUtilizationPercentage or "
            "targetRequestsPerSecond",
        ),
        rule(
            "self.minReplicas <= self.maxReplicas",
            "spec.serving.autoscaling.minReplicas must not exceed maxReplicas",
            ".minReplicas",
        ),
    )

    min_replicas: int = Field(1, ge=1, le=100, description="Fewest serving pods of stable.")
    max_replicas: int = Field(ge=1, le=100, description="Most serving pods of stable.")
    target_cpu_utilization_percentage: int | None = Field(
        None,
        ge=1,
        le=100,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU use to keep, percent of the pods' CPU request "
        "(spec.serving.resources.requests.cpu must be set).",
    )
    target_requests_per_second: float | None = Field(
        None,
        gt=0,
        description="Average requests per second per pod to keep (the HPA reads the pods "
        f"metric {REQUESTS_PER_SECOND_METRIC} from a custom metrics adapter).",
    )

    @model_validator(mode="after")
    def _one_target_and_ordered(self) -> Autoscaling:
        if (self.target_cpu_utilization_percentage is None) == (
            self.target_requests_per_second is None
        ):
            raise ValueError(
                "autoscaling needs exactly one of targetCPUUtilizationPercentage or "
                "targetRequestsPerSecond"
            )
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"autoscaling.minReplicas {self.min_replicas} exceeds maxReplicas "
                f"{self.max_replicas}"
            )
        return self


class Serving(SpecModel):
    """How the model is served."""

    replicas: int = Field(
        1,
        ge=1,
        le=100,
        description="Serving pods of the stable version (ignored with `autoscaling`).",
    )
    autoscaling: Autoscaling | None = Field(
        None,
        description="Let an HPA set the stable version's replicas between min and max; "
        "a canary's share follows the stable Deployment's current replicas.",
    )
    image: str | None = Field(
        None, description="Serving image; the operator's default when omitted."
    )
    resources: Resources | None = Field(None, description="Resources of each serving container.")
    pod: PodPlacement | None = Field(
        None,
        description="Placement and identity of the serving pods (node selector, tolerations, "
        "affinity, topology spread, priority, ServiceAccount, ...).",
    )
    max_batch_rows: int = Field(
        DEFAULT_MAX_BATCH_ROWS,
        ge=1,
        description="Most rows per request (and per predict call); requests with more rows "
        "are refused with 413. Passed to the server as --max-batch-rows.",
    )
    pin_revision: str | None = Field(
        None,
        pattern=REVISION_PATTERN,
        description="Serve this earlier revision (v1, v2, ...) again, by the model digest "
        "status.history recorded for it, through spec.rollout.steps if there are any; no "
        "retraining. While a pin is set nothing trains (spec changes, retrain requests and "
        "the schedule wait); removing it resumes them. `modelpilot rollback NAME --to vN` "
        "sets it.",
        examples=["v1"],
    )


# --- monitoring -----------------------------------------------------------------------


# Every window scrapes the stable pods: a shorter interval (0s was valid) makes the operator
# scrape a tenant's pods on every tick.
MIN_MONITORING_INTERVAL = "5s"


class PredictionLogging(SpecModel):
    """Sampled request/response pairs written by the serving pods, in Parquet files."""

    sample_rate: float = Field(
        ge=0,
        le=1,
        description="Share of requests logged, chosen by a hash of the request id (so a "
        "request is logged or not whatever pod serves it). 1 logs every request.",
    )
    max_buffered_rows: int = Field(
        10000,
        ge=1,
        le=1_000_000,
        description="Rows a pod holds before writing; a request that finds the buffer full "
        "is not logged (counted in modelpilot_prediction_log_dropped_rows_total) and never "
        "waits.",
    )
    flush_interval: str = Field(
        "30s",
        pattern=DURATION_PATTERN,
        description="A pod writes what it holds at least this often (and whenever "
        "maxBufferedRows/2 rows are waiting), one Parquet file per write.",
    )

    @property
    def flush_interval_seconds(self) -> float:
        return parse_duration(self.flush_interval)


class Performance(SpecModel):
    """The live value of the gate's metric, from labels fed back by request id."""

    threshold: float = Field(
        description="Degraded turns True when the live metric falls below this (for error "
        "metrics such as rmse and mae: rises above it)."
    )
    window: str = Field(
        "1h",
        pattern=DURATION_PATTERN,
        description="The sliding window the live metric is computed over (monitoring "
        "windows that ended within it).",
    )
    min_count: int = Field(
        30,
        ge=1,
        description="Fewer labelled rows in the window leave Degraded Unknown (too few to judge).",
    )

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.window)


# The gate metrics the serving pods' feedback counters can give live (a confusion matrix for
# classifiers, sums of errors for regressors); roc_auc and log_loss need probabilities.
LIVE_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "r2",
    "rmse",
    "mae",
)
RetrainReason = Literal["Drifted", "Degraded"]


class Monitoring(SpecModel):
    """Drift of the live inputs against the stable model's training data (PSI per feature),
    prediction logs, and the live value of the gate's metric from labels fed back."""

    model_config = cel(
        rule(
            "!has(self.cooldown) || !has(self.interval) || "
            "duration(self.cooldown) >= duration(self.interval)",
            "spec.monitoring.cooldown must be at least spec.monitoring.interval",
            ".cooldown",
        ),
        rule(
            f"!has(self.interval) || duration(self.interval) >= "
            f"duration('{MIN_MONITORING_INTERVAL}')",
            f"spec.monitoring.interval must be at least {MIN_MONITORING_INTERVAL}",
            ".interval",
        ),
    )

    interval: str = Field(
        "1m",
        pattern=DURATION_PATTERN,
        description="Window length: every interval the stable pods' input counts of the "
        f"last window are compared with the training reference; at least "
        f"{MIN_MONITORING_INTERVAL}.",
    )
    min_requests: int = Field(
        100,
        ge=1,
        description="Fewer input rows in a window leave Drifted Unknown (too little to judge).",
    )
    max_feature_psi: float = Field(
        0.25,
        gt=0,
        description="Drifted is True when any feature's population stability index exceeds "
        "this (0.1 small shift, 0.25 large).",
    )
    retrain_on_drift: bool = Field(
        False,
        description="A drift starts a new revision (trigger Drifted) that meets the usual gate "
        "and canary; at most once per cooldown, never while a revision is in flight or a pin "
        "is set.",
    )
    cooldown: str = Field(
        "1h",
        pattern=DURATION_PATTERN,
        description="Least time between two revisions started by drift.",
    )
    publish_category_values: bool = Field(
        False,
        description="Label the drift bins of categorical features on the serving pods' "
        "/metrics with the training data's most frequent values; off: by their index (c0, "
        "c1, ...), so the page does not publish training data.",
    )
    retrain_on: list[RetrainReason] | None = Field(
        None,
        max_length=2,
        description="Conditions that start a new revision when they turn True: Drifted, "
        "Degraded (at most once per cooldown, never while a revision is in flight or a pin "
        "is set). retrainOnDrift: true means the same as listing Drifted.",
    )
    logging: PredictionLogging | None = Field(
        None,
        description="Log sampled requests and their predictions, with request ids, as "
        "Parquet files in the model store (STORE/NS/NAME/UID/predictions/vN/). Needs a PVC "
        "model store.",
    )
    performance: Performance | None = Field(
        None,
        description="Judge the stable revision by labels fed back by request id "
        "(POST /v2/models/NAME/feedback): the live value of spec.evaluation.metric over a "
        "sliding window sets the Degraded condition.",
    )

    @property
    def retrain_reasons(self) -> frozenset[str]:
        """What may start a revision: retrainOn, plus Drifted with retrainOnDrift."""
        reasons = set(self.retrain_on or ())
        if self.retrain_on_drift:
            reasons.add("Drifted")
        return frozenset(reasons)

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)

    @property
    def cooldown_seconds(self) -> float:
        return parse_duration(self.cooldown)

    @model_validator(mode="after")
    def _interval_is_not_too_short(self) -> Monitoring:
        if self.interval_seconds < parse_duration(MIN_MONITORING_INTERVAL):
            raise ValueError(
                f"monitoring.interval {self.interval} must be at least {MIN_MONITORING_INTERVAL}: "
                "every window scrapes the stable pods"
            )
        return self

    @model_validator(mode="after")
    def _cooldown_covers_a_window(self) -> Monitoring:
        if self.cooldown_seconds < self.interval_seconds:
            raise ValueError(
                f"monitoring.cooldown {self.cooldown} must be at least monitoring.interval "
                f"{self.interval}"
            )
        return self


# --- model store ----------------------------------------------------------------------


class PVCStore(SpecModel):
    claim_name: str = Field(description="PersistentVolumeClaim holding the bundles.")


class ModelStore(SpecModel):
    """Where bundles are written (by training) and read (by serving): exactly one of `pvc`
    or `s3`."""

    model_config = cel(
        rule(
            "has(self.pvc) != has(self.s3)",
            "spec.modelStore needs exactly one of pvc or s3",
        ),
    )

    pvc: PVCStore | None = Field(None, description="A PersistentVolumeClaim in the namespace.")
    s3: S3Store | None = Field(
        None,
        description="An S3 bucket: the trainer uploads each bundle (with its digest) and "
        "serving pods download it and verify that digest before anything is unpickled.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelStore:
        if (self.pvc is None) == (self.s3 is None):
            raise ValueError("modelStore needs exactly one of pvc or s3")
        return self


S3_DATASET_NEEDS_ACCESS = (
    "spec.training.dataset.uri is an s3:// URI without S3 access: set spec.training.dataset.s3 "
    "(a credentialsSecret, or {} for the pods' ServiceAccount identity), or use "
    "spec.modelStore.s3 (whose endpoint, region and credentials it then shares)"
)


LOGGING_NEEDS_PVC = (
    "spec.monitoring.logging needs a PVC model store: with spec.modelStore.s3 the serving "
    "pods hold no credentials to write logs with"
)
FEEDBACK_NEEDS_LOGGING = (
    "spec.training.dataset.include [feedback] needs spec.monitoring.logging (only logged "
    "requests have features to train on)"
)
PERFORMANCE_NEEDS_LIVE_METRIC = (
    "spec.monitoring.performance computes spec.evaluation.metric live, which works for "
    + ", ".join(LIVE_METRICS)
)


S3_PRETRAINED_NEEDS_S3_STORE = (
    "spec.training.pretrained.uri is an s3:// URI but spec.modelStore.s3 is not set: a "
    "pretrained model is read with the model store's access (put it in the store's bucket, "
    "or on the store claim)"
)
LOCAL_PRETRAINED_NEEDS_CLAIM = (
    "spec.training.pretrained.uri is a local path but spec.modelStore is an S3 bucket: put "
    "the model in the bucket (s3://...), or use a model-store claim"
)


class ModelDeploymentSpec(SpecModel):
    """What to train, how good it must be, and how to roll it out."""

    model_config = cel(
        rule(
            "!has(self.training.dataset.uri) || !self.training.dataset.uri.startsWith('s3://') "
            "|| has(self.training.dataset.s3) || (has(self.modelStore) && has(self.modelStore.s3))",
            S3_DATASET_NEEDS_ACCESS,
            ".training.dataset.uri",
        ),
        rule(
            "!has(self.monitoring) || !has(self.monitoring.logging) || !has(self.modelStore) "
            "|| !has(self.modelStore.s3)",
            LOGGING_NEEDS_PVC,
            ".monitoring.logging",
        ),
        rule(
            "!has(self.training.dataset.include) || !('feedback' in self.training.dataset.include)"
            " || (has(self.monitoring) && has(self.monitoring.logging))",
            FEEDBACK_NEEDS_LOGGING,
            ".training.dataset.include",
        ),
        rule(
            "!has(self.monitoring) || !has(self.monitoring.performance) || self.evaluation.metric"
            " in [" + ", ".join(f"'{m}'" for m in LIVE_METRICS) + "]",
            PERFORMANCE_NEEDS_LIVE_METRIC,
            ".monitoring.performance",
        ),
        rule(
            "!has(self.training.pretrained) || "
            "!self.training.pretrained.uri.startsWith('s3://') || "
            "(has(self.modelStore) && has(self.modelStore.s3))",
            S3_PRETRAINED_NEEDS_S3_STORE,
            ".training.pretrained.uri",
        ),
        rule(
            "!has(self.training.pretrained) || "
            "self.training.pretrained.uri.startsWith('s3://') || "
            "!has(self.modelStore) || !has(self.modelStore.s3)",
            LOCAL_PRETRAINED_NEEDS_CLAIM,
            ".training.pretrained.uri",
        ),
    )

    training: Training = Field(description="What to train; a change starts a new revision.")
    evaluation: Evaluation = Field(description="The offline gate.")
    serving: Serving = Field(default_factory=Serving, description="How the model is served.")
    rollout: Rollout = Field(default_factory=Rollout, description="How a new model is rolled out.")
    model_store: ModelStore | None = Field(
        None, description="Where bundles live; the operator's default store when omitted."
    )
    monitoring: Monitoring | None = Field(
        None, description="Watch the live inputs for drift; off when omitted."
    )
    notifications: list[Notification] = Field(
        default_factory=list,
        max_length=MAX_NOTIFICATIONS,
        description="Where to send CloudEvents (or Slack messages) about revisions, the "
        "canary and the conditions.",
    )

    @model_validator(mode="after")
    def _s3_dataset_has_access(self) -> ModelDeploymentSpec:
        if self.dataset_s3 is None and is_s3_uri(self.training.dataset.uri):
            raise ValueError(S3_DATASET_NEEDS_ACCESS)
        return self

    @model_validator(mode="after")
    def _feedback_loop_is_consistent(self) -> ModelDeploymentSpec:
        monitoring = self.monitoring
        if monitoring is not None and monitoring.logging is not None and self.store_s3:
            raise ValueError(LOGGING_NEEDS_PVC)
        if self.training.dataset.includes_feedback and (
            monitoring is None or monitoring.logging is None
        ):
            raise ValueError(FEEDBACK_NEEDS_LOGGING)
        if (
            monitoring is not None
            and monitoring.performance is not None
            and self.evaluation.metric not in LIVE_METRICS
        ):
            raise ValueError(f"{PERFORMANCE_NEEDS_LIVE_METRIC}, not {self.evaluation.metric}")
        return self

    @model_validator(mode="after")
    def _pretrained_is_in_the_store(self) -> ModelDeploymentSpec:
        pretrained = self.training.pretrained
        if pretrained is not None and pretrained.is_s3 and self.store_s3 is None:
            raise ValueError(S3_PRETRAINED_NEEDS_S3_STORE)
        if pretrained is not None and not pretrained.is_s3 and self.store_s3 is not None:
            raise ValueError(LOCAL_PRETRAINED_NEEDS_CLAIM)
        return self

    @property
    def store_s3(self) -> S3Store | None:
        """spec.modelStore.s3, or None (a PVC store, or the operator's default)."""
        return None if self.model_store is None else self.model_store.s3

    @property
    def dataset_s3(self) -> S3Access | None:
        """How pods reach an s3:// dataset: its own access, else the S3 store's; None for
        other datasets."""
        dataset = self.training.dataset
        if not is_s3_uri(dataset.uri):
            return None
        return dataset.s3 or self.store_s3


def parse_spec(raw: dict[str, Any]) -> ModelDeploymentSpec:
    """Parse a ModelDeployment's spec; raises pydantic.ValidationError naming the field."""
    return ModelDeploymentSpec.model_validate(raw)


__all__ = [
    "DEFAULT_MAX_BATCH_ROWS",
    "MAX_NOTIFICATIONS",
    "MAX_STEPS",
    "Analysis",
    "AnalysisMetric",
    "Dataset",
    "DatasetClaim",
    "Evaluation",
    "GatewayAPIRouter",
    "HeaderRouteMatch",
    "HeaderValue",
    "IstioRouter",
    "MetricsSourceSpec",
    "ModelDeploymentSpec",
    "ModelStore",
    "Notification",
    "NotificationEvent",
    "PVCStore",
    "Pause",
    "Performance",
    "PodPlacement",
    "PredictionLogging",
    "PreprocessingStep",
    "Pretrained",
    "PrometheusSource",
    "ReplicasRouter",
    "Resources",
    "Rollout",
    "RolloutWebhook",
    "S3Access",
    "S3Store",
    "Serving",
    "SetHeaderRoute",
    "SpecModel",
    "Step",
    "ThresholdRange",
    "TrafficRouter",
    "TrafficRouterKind",
    "Training",
    "WebhookType",
    "cel",
    "parse_spec",
    "rule",
]
