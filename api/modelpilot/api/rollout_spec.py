"""spec.rollout: how a passing candidate replaces the stable model — the traffic router,
the canary's steps and the live analysis between them.

Part of the ModelDeployment spec (modelpilot.api.spec re-exports every name here); apart
only to keep each module about one part of the API.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise
from typing import Any, Literal

from pydantic import Field, model_validator

from modelpilot.api.duration import DURATION_PATTERN, parse_duration
from modelpilot.api.spec_model import SpecModel, cel, rule


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


class HeaderValue(SpecModel):
    """How a header's value must look: exactly one of exact, prefix, regex."""

    model_config = cel(
        rule(
            "(has(self.exact) ? 1 : 0) + (has(self.prefix) ? 1 : 0) + (has(self.regex) ? 1 : 0)"
            " == 1",
            "setHeaderRoute.match[].headerValue needs exactly one of exact, prefix, regex",
        ),
    )

    exact: str | None = Field(None, max_length=1024, description="The whole value.")
    prefix: str | None = Field(None, max_length=1024, description="The value's beginning.")
    regex: str | None = Field(None, max_length=1024, description="An RE2 regular expression.")

    @model_validator(mode="after")
    def _exactly_one(self) -> HeaderValue:
        if sum(v is not None for v in (self.exact, self.prefix, self.regex)) != 1:
            raise ValueError("headerValue needs exactly one of exact, prefix, regex")
        return self

    @property
    def kind_and_value(self) -> tuple[Literal["exact", "prefix", "regex"], str]:
        if self.exact is not None:
            return "exact", self.exact
        if self.prefix is not None:
            return "prefix", self.prefix
        assert self.regex is not None
        return "regex", self.regex


class HeaderRouteMatch(SpecModel):
    """One header a request must carry."""

    header_name: str = Field(
        pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
        max_length=256,
        description="The header's name, e.g. x-model-variant.",
    )
    header_value: HeaderValue = Field(description="What its value must be.")


class SetHeaderRoute(SpecModel):
    """Requests carrying every header of `match` reach the canary, whatever the weights."""

    name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="The route's name; a later step of the same name replaces it.",
    )
    match: list[HeaderRouteMatch] = Field(
        default_factory=list,
        max_length=8,
        description="The headers a request must carry (all of them); none removes the route.",
    )


class Step(SpecModel):
    """One canary step: exactly one of `setWeight`, `pause` or `setHeaderRoute`."""

    model_config = cel(
        rule(
            "(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0)"
            " + (has(self.setHeaderRoute) ? 1 : 0) == 1",
            "each spec.rollout.steps item needs exactly one of setWeight, pause or setHeaderRoute",
        ),
    )

    set_weight: int | None = Field(
        None, ge=1, le=100, description="Percentage of traffic sent to the canary."
    )
    pause: Pause | None = Field(None, description="Hold the current weight.")
    set_header_route: SetHeaderRoute | None = Field(
        None,
        description="Route requests with these headers to the canary (gatewayAPI and istio "
        "routers); removed on promotion and abort.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        chosen = (self.set_weight, self.pause, self.set_header_route)
        if sum(v is not None for v in chosen) != 1:
            raise ValueError("a step needs exactly one of setWeight, pause or setHeaderRoute")
        return self


# An http(s) URL without credentials in it: the operator calls it (gates) or posts to it
# (notifications), so the platform's allowlist (MODELPILOT_WEBHOOK_ALLOWLIST) must allow it.
WEBHOOK_URL_PATTERN = r"^https?://[^\s/@?#]+(/[^\s#]*)?$"
WEBHOOK_URL_MAX = 2048
# A gate never holds a request open longer than this, whatever the spec asks.
MAX_WEBHOOK_TIMEOUT_SECONDS = 60.0


class WebhookType(StrEnum):
    """When a rollout webhook is asked (Flagger's names)."""

    PRE_ROLLOUT = "pre-rollout"  # before the canary's first step: a non-2xx holds it there
    CONFIRM_PROMOTION = "confirm-promotion"  # after the last step: a non-2xx pauses promotion


class RolloutWebhook(SpecModel):
    """A gate: the canary passes this point only once `url` answers a POST with 2xx."""

    # A non-2xx answer, a timeout or a refused connection holds the canary; the operator
    # asks again on later ticks (modelpilot.operator.gates).
    model_config = cel(
        rule(
            "!has(self.timeout) || (duration(self.timeout) > duration('0s') && "
            "duration(self.timeout) <= duration('60s'))",
            "spec.rollout.webhooks[].timeout must be more than 0 and at most 60s",
            ".timeout",
        ),
    )

    type: WebhookType = Field(description="pre-rollout or confirm-promotion.")
    url: str = Field(
        pattern=WEBHOOK_URL_PATTERN,
        max_length=WEBHOOK_URL_MAX,
        description="http(s) URL, allowed by the platform's webhook allowlist.",
    )
    timeout: str = Field(
        "10s",
        pattern=DURATION_PATTERN,
        description="How long one call may take (at most 60s); longer holds the gate.",
    )

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)

    @model_validator(mode="after")
    def _bounded_timeout(self) -> RolloutWebhook:
        if not 0 < self.timeout_seconds <= MAX_WEBHOOK_TIMEOUT_SECONDS:
            raise ValueError(
                f"webhook timeout {self.timeout} must be more than 0 and at most "
                f"{MAX_WEBHOOK_TIMEOUT_SECONDS:g}s"
            )
        return self


class ThresholdRange(SpecModel):
    """The range a custom metric's value must stay in; a bound left out is not checked."""

    model_config = cel(
        rule("has(self.min) || has(self.max)", "thresholdRange needs min, max or both"),
        rule(
            "!has(self.min) || !has(self.max) || self.min <= self.max",
            "thresholdRange.min must not be above thresholdRange.max",
        ),
    )

    min: float | None = Field(None, description="Lowest value that passes.")
    max: float | None = Field(None, description="Highest value that passes.")

    @model_validator(mode="after")
    def _a_bound(self) -> ThresholdRange:
        if self.min is None and self.max is None:
            raise ValueError("thresholdRange needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"thresholdRange.min {self.min} is above max {self.max}")
        return self


class AnalysisMetric(SpecModel):
    """A PromQL check of your own, judged every analysis window beside the built-in ones."""

    name: str = Field(
        pattern=r"^[a-zA-Z][a-zA-Z0-9_.-]{0,62}$",
        max_length=63,
        description="Names the check in status, Events and a failure's reason.",
    )
    query: str = Field(
        min_length=1,
        max_length=4096,
        description="PromQL returning one number (a scalar or a one-series vector); "
        "$namespace, $model, $canary, $stable and $window are filled in ($$ for a $).",
    )
    threshold_range: ThresholdRange = Field(description="Where the value must lie to pass.")


class PrometheusSource(SpecModel):
    """Read canary/stable metrics from Prometheus instead of the pods."""

    address: str = Field(description="Base URL, e.g. http://prometheus.monitoring:9090")


class MetricsSourceSpec(SpecModel):
    """Where live metrics come from: the pods' /metrics (default) or Prometheus."""

    pods: dict[str, Any] | None = Field(None, description="Scrape each serving pod's /metrics.")
    prometheus: PrometheusSource | None = Field(None, description="Query Prometheus.")


MAX_ANALYSIS_METRICS = 16
METRICS_NEED_PROMETHEUS = (
    "spec.rollout.analysis.metrics run against Prometheus: set "
    "spec.rollout.analysis.metricsSource.prometheus.address (an allowlisted Prometheus)"
)


class Analysis(SpecModel):
    """Live analysis of the canary against limits, every `interval`."""

    model_config = cel(
        rule(
            "!has(self.metrics) || size(self.metrics) == 0 || "
            "(has(self.metricsSource) && has(self.metricsSource.prometheus))",
            METRICS_NEED_PROMETHEUS,
            ".metrics",
        ),
        rule(
            "!has(self.metrics) || self.metrics.all(m, "
            "self.metrics.filter(n, n.name == m.name).size() == 1)",
            "spec.rollout.analysis.metrics names must be unique",
            ".metrics",
        ),
    )

    interval: str = Field("15s", pattern=DURATION_PATTERN, description="Window length.")
    max_error_rate: float = Field(
        0.01, ge=0, le=1, description="Highest tolerated 5xx fraction of the canary's requests."
    )
    max_client_error_rate_delta: float = Field(
        0.05,
        ge=0,
        le=1,
        description="How much higher the canary's 4xx fraction may be than stable's.",
    )
    max_latency_p99_ms: float = Field(250, gt=0, description="Highest tolerated p99 latency.")
    max_prediction_psi: float | None = Field(
        None,
        gt=0,
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
    metrics: list[AnalysisMetric] = Field(
        default_factory=list,
        max_length=MAX_ANALYSIS_METRICS,
        description="PromQL checks of your own against metricsSource.prometheus, judged "
        "every window with the built-in ones; one out of its range fails the window.",
    )

    @model_validator(mode="after")
    def _metrics_need_prometheus(self) -> Analysis:
        if self.metrics and (self.metrics_source is None or self.metrics_source.prometheus is None):
            raise ValueError(METRICS_NEED_PROMETHEUS)
        seen = [m.name for m in self.metrics]
        doubled = sorted({n for n in seen if seen.count(n) > 1})
        if doubled:
            raise ValueError(f"analysis.metrics names must be unique: {', '.join(doubled)}")
        return self

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)


# Bounds the cost of the CEL rule over the steps (the apiserver estimates it from maxItems).
MAX_STEPS = 32
MAX_WEBHOOKS = 8


HEADER_ROUTES_NEED_A_MESH = (
    "spec.rollout.steps: setHeaderRoute needs the gatewayAPI or istio traffic router; the "
    "replicas router splits traffic by pod counts behind one Service and cannot route a "
    "request by its headers"
)


class Rollout(SpecModel):
    """How a passing candidate replaces the stable model."""

    model_config = cel(
        rule(
            "!has(self.steps) || !self.steps.exists(s, has(s.setHeaderRoute)) || "
            "(has(self.trafficRouter) && !has(self.trafficRouter.replicas))",
            HEADER_ROUTES_NEED_A_MESH,
            ".steps",
        ),
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
    analysis: Analysis = Field(default_factory=Analysis, description="Live analysis between steps.")
    webhooks: list[RolloutWebhook] = Field(
        default_factory=list,
        max_length=MAX_WEBHOOKS,
        description="Gates: pre-rollout holds the canary before its first step, "
        "confirm-promotion before its promotion, until every one of that type answers 2xx.",
    )

    @model_validator(mode="after")
    def _header_routes_need_a_mesh(self) -> Rollout:
        header_routes = any(s.set_header_route is not None for s in self.steps)
        if header_routes and self.traffic_router.kind is TrafficRouterKind.REPLICAS:
            raise ValueError(HEADER_ROUTES_NEED_A_MESH)
        return self

    @model_validator(mode="after")
    def _weights_increase(self) -> Rollout:
        weights = [s.set_weight for s in self.steps if s.set_weight is not None]
        if any(b <= a for a, b in pairwise(weights)):
            raise ValueError(f"setWeight steps must strictly increase, got {weights}")
        return self
