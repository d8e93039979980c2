"""The ModelDeployment spec, as typed values.

These models are the single source of the API: the operator and trainer parse specs with
them, and `hack/gen_crd.py` turns them (descriptions included) into the CRD's
openAPIV3Schema. Field names are the CRD's camelCase ones; Python attributes are snake_case.
Rules a schema alone cannot state are checked here *and* emitted as CEL rules, so
`kubectl apply` and the operator reject the same specs with the same words.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator
from pydantic.alias_generators import to_camel

from modelpilot.api.duration import DURATION_PATTERN, parse_duration
from modelpilot.api.metrics import BOUNDED_METRICS, METRICS, metric_info


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def cel(*rules: dict[str, str]) -> ConfigDict:
    """Model config carrying CEL rules; hack/gen_crd.py emits them as x-kubernetes-validations.

    Each rule sits beside the pydantic validator that enforces the same thing, and its
    message names the field, so kubectl and the operator reject a spec in the same words.
    """
    validations: list[JsonValue] = [dict(r) for r in rules]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})


def rule(expression: str, message: str, field_path: str | None = None) -> dict[str, str]:
    out = {"rule": expression, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


# --- training -------------------------------------------------------------------------


class Dataset(SpecModel):
    """Where the training data comes from: exactly one of `builtin` or `uri`."""

    model_config = cel(
        rule(
            "has(self.builtin) != has(self.uri)",
            "spec.training.dataset needs exactly one of builtin or uri",
        ),
        rule(
            "!has(self.uri) || has(self.target)",
            "spec.training.dataset.target is required with dataset.uri",
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
        description="CSV or Parquet data: a path on a mounted volume, file:///path, or an "
        "fsspec URI (s3://bucket/key.parquet).",
    )
    format: Literal["csv", "parquet"] | None = Field(
        None, description="File format; inferred from the URI's extension when omitted."
    )
    target: str | None = Field(
        None, description="The label column (required with `uri`)."
    )
    features: list[str] | None = Field(
        None, description="Feature columns to use; all columns but the target when omitted."
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Dataset:
        if (self.builtin is None) == (self.uri is None):
            raise ValueError("dataset needs exactly one of builtin or uri")
        if self.uri is not None and not self.target:
            raise ValueError("dataset.target is required with dataset.uri")
        return self


# Five cron fields of numbers, ranges, lists, steps, '*' and names; also the @-shorthands.
CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
    r"([0-9A-Za-z*,/\-]+\s+){4}[0-9A-Za-z*,/\-]+)$"
)


def is_valid_cron(expression: str) -> bool:
    import re

    return re.fullmatch(CRON_PATTERN, expression.strip()) is not None


class PreprocessingStep(SpecModel):
    """One transformer applied before the estimator (the steps build a Pipeline)."""

    transformer: str = Field(
        description="A scikit-learn transformer class: StandardScaler, MinMaxScaler, "
        "OneHotEncoder, or a full import path such as sklearn.preprocessing.RobustScaler."
    )
    columns: list[str] | None = Field(
        None, description="Columns it applies to; all feature columns when omitted."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the transformer."
    )


class Resources(SpecModel):
    """Container resources, as in a Pod spec."""

    requests: dict[str, str] | None = Field(None, description="e.g. {cpu: 500m, memory: 1Gi}")
    limits: dict[str, str] | None = Field(None, description="e.g. {memory: 2Gi}")


class Training(SpecModel):
    """What to train. A change here starts a new revision."""

    model_config = cel(
        rule(
            "!has(self.schedule) || self.schedule.matches(r'" + CRON_PATTERN + "')",
            "spec.training.schedule is not a five-field cron expression (e.g. '0 3 * * *')",
            ".schedule",
        ),
    )

    dataset: Dataset = Field(description="The training data.")
    estimator: str = Field(
        description="Import path of a scikit-learn estimator class, e.g. "
        "sklearn.ensemble.RandomForestClassifier. Must match the operator's allowlist.",
        min_length=1,
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


class Serving(SpecModel):
    """How the model is served."""

    replicas: int = Field(1, ge=1, le=100, description="Serving pods of the stable version.")
    image: str | None = Field(
        None, description="Serving image; the operator's default when omitted."
    )
    resources: Resources | None = Field(None, description="Resources of each serving container.")
    max_batch_rows: int = Field(
        1024, ge=1, description="Requests with more rows are refused with 413."
    )


# --- rollout --------------------------------------------------------------------------


class GatewayAPIRouter(SpecModel):
    """Weights on a Gateway API HTTPRoute's backendRefs."""

    http_route: str = Field(
        alias="httpRoute", description="Name of the HTTPRoute (same namespace)."
    )


class IstioRouter(SpecModel):
    """Weights on an Istio VirtualService's HTTP route destinations."""

    virtual_service: str = Field(description="Name of the VirtualService (same namespace).")
    route: str | None = Field(
        None, description="Name of the http route to weight; the first when omitted."
    )


class ReplicasRouter(SpecModel):
    """No mesh: one Service selects both versions and replica counts approximate weights."""


class TrafficRouterKind(StrEnum):
    """The spec's names for the traffic routers (the keys of spec.rollout.trafficRouter)."""

    REPLICAS = "replicas"  # replica counts of the two Deployments are the split
    GATEWAY_API = "gatewayAPI"  # weights on an HTTPRoute's backendRefs
    ISTIO = "istio"  # weights on a VirtualService route's destinations


class TrafficRouter(SpecModel):
    """Exactly one of `replicas`, `gatewayAPI`, `istio`."""

    model_config = cel(
        rule(
            "(has(self.replicas) ? 1 : 0) + (has(self.gatewayAPI) ? 1 : 0)"
            " + (has(self.istio) ? 1 : 0) == 1",
            "spec.rollout.trafficRouter needs exactly one of replicas, gatewayAPI, istio",
        ),
    )

    replicas: ReplicasRouter | None = Field(None, description="Replica-count weighting.")
    gateway_api: GatewayAPIRouter | None = Field(
        None, alias="gatewayAPI", description="Gateway API HTTPRoute weighting."
    )
    istio: IstioRouter | None = Field(None, description="Istio VirtualService weighting.")

    @model_validator(mode="after")
    def _exactly_one(self) -> TrafficRouter:
        chosen = [n for n in ("replicas", "gateway_api", "istio") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("trafficRouter needs exactly one of replicas, gatewayAPI, istio")
        return self

    @property
    def kind(self) -> TrafficRouterKind:
        if self.gateway_api is not None:
            return TrafficRouterKind.GATEWAY_API
        if self.istio is not None:
            return TrafficRouterKind.ISTIO
        return TrafficRouterKind.REPLICAS


class Pause(SpecModel):
    """Wait `duration`, or without one until `modelpilot promote`."""

    duration: str | None = Field(
        None, pattern=DURATION_PATTERN, description="e.g. 60s, 5m; omit to wait for a promote."
    )

    @property
    def seconds(self) -> float | None:
        return None if self.duration is None else parse_duration(self.duration)


class Step(SpecModel):
    """One canary step: exactly one of `setWeight` or `pause`."""

    model_config = cel(
        rule(
            "has(self.setWeight) != has(self.pause)",
            "each spec.rollout.steps item needs exactly one of setWeight or pause",
        ),
    )

    set_weight: int | None = Field(
        None, ge=1, le=100, description="Percentage of traffic sent to the canary."
    )
    pause: Pause | None = Field(None, description="Hold the current weight.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        if (self.set_weight is None) == (self.pause is None):
            raise ValueError("a step needs exactly one of setWeight or pause")
        return self


class PrometheusSource(SpecModel):
    """Read canary/stable metrics from Prometheus instead of the pods."""

    address: str = Field(description="Base URL, e.g. http://prometheus.monitoring:9090")


class MetricsSourceSpec(SpecModel):
    """Where live metrics come from: the pods' /metrics (default) or Prometheus."""

    pods: dict[str, Any] | None = Field(None, description="Scrape each serving pod's /metrics.")
    prometheus: PrometheusSource | None = Field(None, description="Query Prometheus.")


class Analysis(SpecModel):
    """Live analysis of the canary against limits, every `interval`."""

    interval: str = Field("15s", pattern=DURATION_PATTERN, description="Window length.")
    max_error_rate: float = Field(
        0.01, ge=0, le=1, description="Highest tolerated 5xx fraction of the canary's requests."
    )
    max_client_error_rate_delta: float = Field(
        0.05, ge=0, le=1,
        description="How much higher the canary's 4xx fraction may be than stable's.",
    )
    max_latency_p99_ms: float = Field(250, gt=0, description="Highest tolerated p99 latency.")
    max_prediction_psi: float | None = Field(
        None, gt=0,
        description="Highest tolerated population stability index of the canary's predictions "
        "against stable's (0.1 small shift, 0.25 large); unchecked when omitted.",
    )
    min_requests: int = Field(
        20, ge=0, description="Fewer canary requests in a window is inconclusive, not a pass."
    )
    failure_limit: int = Field(2, ge=1, description="Failed windows that abort the rollout.")
    inconclusive_limit: int = Field(
        10, ge=1, description="Inconclusive windows before `onInconclusive` applies."
    )
    on_inconclusive: Literal["Abort", "Pause"] = Field(
        "Abort", description="After inconclusiveLimit windows: abort (safe) or pause for a person."
    )
    metrics_source: MetricsSourceSpec | None = Field(
        None, description="Where metrics come from; the pods' /metrics when omitted."
    )

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)


# Bounds the cost of the CEL rule over the steps (the apiserver estimates it from maxItems).
MAX_STEPS = 32


class Rollout(SpecModel):
    """How a passing candidate replaces the stable model."""

    model_config = cel(
        rule(
            "!has(self.steps) || ("
            "self.steps.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted() && "
            "self.steps.filter(s, has(s.setWeight)).all(s, "
            "self.steps.filter(t, has(t.setWeight) && t.setWeight == s.setWeight).size() == 1))",
            "spec.rollout.steps: setWeight values must strictly increase",
            ".steps",
        ),
    )

    traffic_router: TrafficRouter = Field(
        default_factory=lambda: TrafficRouter(replicas=ReplicasRouter()),
        description="How traffic is split between stable and canary.",
    )
    steps: list[Step] = Field(
        default_factory=list,
        max_length=MAX_STEPS,
        description="Canary steps in order; no steps promotes a passing candidate at once.",
    )
    analysis: Analysis = Field(
        default_factory=Analysis, description="Live analysis between steps."
    )

    @model_validator(mode="after")
    def _weights_increase(self) -> Rollout:
        weights = [s.set_weight for s in self.steps if s.set_weight is not None]
        if any(b <= a for a, b in pairwise(weights)):
            raise ValueError(f"setWeight steps must strictly increase, got {weights}")
        return self


# --- model store ----------------------------------------------------------------------


class PVCStore(SpecModel):
    claim_name: str = Field(description="PersistentVolumeClaim holding the bundles.")


class ModelStore(SpecModel):
    """Where bundles are written (by training) and read (by serving)."""

    pvc: PVCStore | None = Field(None, description="A PersistentVolumeClaim in the namespace.")


class ModelDeploymentSpec(SpecModel):
    """What to train, how good it must be, and how to roll it out."""

    training: Training = Field(description="What to train; a change starts a new revision.")
    evaluation: Evaluation = Field(description="The offline gate.")
    serving: Serving = Field(default_factory=Serving, description="How the model is served.")
    rollout: Rollout = Field(default_factory=Rollout, description="How a new model is rolled out.")
    model_store: ModelStore | None = Field(
        None, description="Where bundles live; the operator's default store when omitted."
    )


def parse_spec(raw: dict[str, Any]) -> ModelDeploymentSpec:
    """Parse a ModelDeployment's spec; raises pydantic.ValidationError naming the field."""
    return ModelDeploymentSpec.model_validate(raw)
