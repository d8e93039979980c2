"""What a canary needs from outside the owned objects, read once per tick: the route's
weights and, when a window is due, the live metrics of both versions.

This is I/O, so it happens here, before plan(), and lands in the frozen World
(`route_weights`, `route_problem`, `analysis`); plan() only judges what it is given. When a
window is due is decided by the same pure helper plan() uses (rollout.canary), so the two
never disagree. Errors do not escape: an unreadable route becomes `route_problem` (the canary
holds and says why), unreadable metrics an `ObservedAnalysis.error` (an inconclusive window);
a route or metrics spec that can never work is also a `World.stall` (Stalled=True). That holds
for *any* error here — a 403, 429 or 5xx from the apiserver, a malformed Prometheus answer, a
timeout, a bug in a parser — because a tick that raised would never reach plan(), and plan()
is where a person's `modelpilot abort` or `promote` is honoured.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any

from modelpilot.api.spec import Analysis, ModelDeploymentSpec
from modelpilot.api.status import ModelDeploymentStatus
from modelpilot.operator.analysis.counts import Snapshot
from modelpilot.operator.analysis.errors import MetricsError, MetricsSpecError
from modelpilot.operator.analysis.prometheus import render_check
from modelpilot.operator.analysis.source import MetricsSource, Sample
from modelpilot.operator.cluster import Cluster
from modelpilot.operator.errors import PermanentError, from_component
from modelpilot.operator.rollout import canary as canary_math
from modelpilot.operator.rollout.traffic import traffic_strategy
from modelpilot.operator.rollout.world import ObservedAnalysis, Stall, World
from modelpilot.operator.route_clients import route_target, router_of
from modelpilot.operator.routers.errors import RouterError
from modelpilot.operator.routers.router import HeaderRouter

# Builds the metrics source for spec.rollout.analysis (tests pass a fake).
MetricsFactory = Callable[[Analysis], MetricsSource]
log = logging.getLogger("modelpilot.operator")

# A whole window (both versions, every query) gets this long; a tick never waits longer for
# metrics, whatever a tenant's endpoint does. Each request is bounded too (analysis.fetch).
WINDOW_BUDGET_SECONDS = 10.0


class DefaultMetrics:
    """The pods' /metrics, or Prometheus when analysis.metricsSource.prometheus says so.

    One HTTP client for the operator's lifetime (connection pooling across windows), and its
    own threads: windows run on `_windows` and pod scrapes fan out on `_scrapes`, never on
    the tick's thread pool, so a slow endpoint of one ModelDeployment costs the others at
    most a window's budget, not a worker.
    """

    def __init__(self, *, budget_seconds: float = WINDOW_BUDGET_SECONDS) -> None:
        self._client: Any = None
        self._budget = budget_seconds
        self._windows = ThreadPoolExecutor(max_workers=4, thread_name_prefix="metrics-window")
        self._scrapes = ThreadPoolExecutor(max_workers=16, thread_name_prefix="metrics-scrape")

    def __call__(self, analysis: Analysis) -> MetricsSource:
        from modelpilot.operator.analysis import fetch

        if self._client is None:
            self._client = fetch.client()
        source = analysis.metrics_source
        if source is not None and source.prometheus is not None:
            from modelpilot.operator.analysis.prometheus import PrometheusMetricsSource

            return PrometheusMetricsSource(source.prometheus.address, client=self._client)
        from modelpilot.operator.analysis.pods import PodsMetricsSource

        return PodsMetricsSource(self._client, executor=self._scrapes)

    def run_window(
        self, take: Callable[[], ObservedAnalysis | PermanentError]
    ) -> ObservedAnalysis | PermanentError:
        """`take()` on the metrics threads, waited for at most the budget."""
        future = self._windows.submit(take)
        try:
            return future.result(timeout=self._budget)
        except FutureTimeout:
            future.cancel()
            return ObservedAnalysis(
                error=f"the metrics did not answer within {self._budget:g}s (a slow or "
                "overloaded endpoint); the window is inconclusive"
            )

    def close(self) -> None:
        self._windows.shutdown(wait=False, cancel_futures=True)
        self._scrapes.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()
            self._client = None


def observe_canary(
    world: World,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    cluster: Cluster,
    *,
    metrics: MetricsFactory,
    now: datetime,
) -> World:
    """`world` with the route's weights and a due analysis window filled in."""
    if not canary_math.canary_is_live(status):
        return world
    spec = canary_math.spec_with_started_rollout(spec, status)  # the router the canary started with
    stable, canary = status.stable, status.canary
    assert stable is not None and canary is not None
    changes: dict[str, Any] = {}
    route = traffic_strategy(spec).route_to_read(stable=stable.revision, canary=canary.revision)
    if route is not None:
        target = route_target(route, namespace=world.namespace, model=world.name)
        try:
            router = router_of(route, cluster)
            changes["route_weights"] = router.get_weights(target)
            if isinstance(router, HeaderRouter):
                changes["route_header_routes"] = router.get_header_routes(target)
        except RouterError as error:
            problem = from_component(error, f"traffic router {route.router.kind}")
            changes["route_problem"] = str(problem)
            if isinstance(problem, PermanentError):
                changes["stall"] = Stall(problem.reason, problem.message)
        except Exception as error:
            log.warning(
                "%s/%s: reading the route failed", world.namespace, world.name, exc_info=True
            )
            changes["route_problem"] = (
                f"traffic router {route.router.kind}: could not read the route "
                f"({type(error).__name__}: {str(error)[:300]})"
            )
    if canary_math.window_due(spec, status, now):
        source = metrics(spec.rollout.analysis)

        def take() -> ObservedAnalysis | PermanentError:
            return take_window(world, spec, status, source)

        runner = getattr(metrics, "run_window", None)  # DefaultMetrics bounds it in time
        try:
            observed = take() if runner is None else runner(take)
        except Exception as error:
            log.warning(
                "%s/%s: taking the analysis window failed",
                world.namespace,
                world.name,
                exc_info=True,
            )
            observed = ObservedAnalysis(error=f"{type(error).__name__}: {str(error)[:300]}")
        if isinstance(observed, PermanentError):
            changes["stall"] = changes.get("stall") or Stall(observed.reason, observed.message)
        else:
            changes["analysis"] = observed
    return dataclasses.replace(world, **changes) if changes else world


def take_window(
    world: World, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, source: MetricsSource
) -> ObservedAnalysis | PermanentError:
    """This window's metrics; unreadable ones are an inconclusive window when they may come
    back (retryable), a PermanentError when the metrics spec can never work."""
    stable, canary = status.stable, status.canary
    assert stable is not None and canary is not None
    analysis = canary.analysis

    def query(revision: str, previous: dict[str, Any] | None) -> Sample:
        deployment = world.deployments.get(revision)
        return source.query(
            namespace=world.namespace,
            model=world.name,
            version=revision,
            pod_ips=() if deployment is None else deployment.pod_ips,
            window_seconds=spec.rollout.analysis.interval_seconds,
            previous=Snapshot.from_status(previous),
        )

    try:
        canary_sample = query(canary.revision, analysis.canary_snapshot)
        stable_sample = query(stable.revision, analysis.stable_snapshot)
        values = _custom_values(world, spec, status, source)
    except MetricsError as error:
        if not error.retryable:
            problem = from_component(error, "metrics")
            if isinstance(problem, PermanentError):
                return problem
        return ObservedAnalysis(error=str(error))
    except Exception as error:
        return ObservedAnalysis(error=f"{type(error).__name__}: {str(error)[:300]}")
    return ObservedAnalysis(canary=canary_sample, stable=stable_sample, metrics=values)


def _custom_values(
    world: World, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, source: MetricsSource
) -> dict[str, float | None]:
    """The value of each spec.rollout.analysis.metrics query this window, by name."""
    checks = spec.rollout.analysis.metrics
    if not checks:
        return {}
    ask = getattr(source, "value", None)
    if ask is None:  # the spec's validation makes metrics need Prometheus
        raise MetricsSpecError("spec.rollout.analysis.metrics need metricsSource.prometheus")
    stable, canary = status.stable, status.canary
    assert stable is not None and canary is not None
    values: dict[str, float | None] = {}
    for check in checks:
        promql = render_check(
            check.query,
            namespace=world.namespace,
            model=world.name,
            canary=canary.revision,
            stable=stable.revision,
            window_seconds=spec.rollout.analysis.interval_seconds,
        )
        values[check.name] = ask(promql)
    return values
