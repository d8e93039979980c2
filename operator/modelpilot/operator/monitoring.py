"""Reading the stable pods' drift counters when a monitoring window is due (spec.monitoring).

I/O, so it happens here, before plan(), and lands in the frozen World (`drift`); plan() only
judges it (modelpilot.operator.rollout.drift). When a window is due is decided by the same
pure helper plan() uses, so the two never disagree. Errors do not escape: pods that cannot be
read become `ObservedDrift.error`, and Drifted goes Unknown for that window. That holds for
*any* error — a page missing a label, an address that is not one, a bug in a parser — since
a tick that raised would never reach plan(), where `abort` and `promote` are honoured.

Bounded, because the pods are a tenant's (issue 21 §4): every page goes through the
operator's one bounded GET (analysis.fetch: a deadline per request, a size limit), at most
`MAX_PODS` pods are read per window (a sample of the stable pods is enough to judge drift),
and the whole scrape stops at `BUDGET_SECONDS`, so a model with many silent pods holds a
reconcile worker for no longer than that.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from modelpilot.api import names
from modelpilot.api import serving_metrics as metric_names
from modelpilot.api.drift import (
    FEATURE_BIN_TOTAL,
    FEATURE_REFERENCE_RATIO,
    LABEL_BIN,
    LABEL_FEATURE,
)
from modelpilot.api.feedback import FeedbackStats
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import ModelDeploymentStatus
from modelpilot.operator.rollout.drift import drift_window_due
from modelpilot.operator.rollout.world import ObservedDrift, World

SCRAPE_TIMEOUT_SECONDS = 2.0  # one pod's page, whole (not per read)
MAX_PODS = 10  # stable pods read per window, the first by IP
BUDGET_SECONDS = 5.0  # the whole scrape, every pod
MAX_PAGE_BYTES = 4 * 1024 * 1024
_ERROR_CHARS = 1000  # ObservedDrift.error reaches status


def pod_url(ip: str) -> str:
    host = f"[{ip}]" if ":" in ip else ip  # IPv6 pod IPs are bracketed in URLs
    return f"http://{host}:{names.SERVING_PORT}/metrics"


def observe_drift(
    world: World,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    *,
    now: datetime,
    client: Any = None,
) -> World:
    """`world` with the stable pods' drift counters filled in when a window is due."""
    if not drift_window_due(spec, status, now):
        return world
    stable = status.stable
    assert stable is not None
    deployment = world.deployments.get(stable.revision)
    ips = () if deployment is None else deployment.pod_ips
    try:
        drift = scrape(world.name, stable.revision, ips, client=client)
    except Exception as error:  # never out of the tick: see the module docstring
        drift = ObservedDrift(
            revision=stable.revision,
            error=f"reading drift failed: {type(error).__name__}: {error}"[:_ERROR_CHARS],
        )
    return dataclasses.replace(world, drift=drift)


def scrape(
    model: str,
    revision: str,
    pod_ips: tuple[str, ...],
    *,
    client: Any = None,
    clock: Callable[[], float] = time.monotonic,
    max_pods: int = MAX_PODS,
    budget_seconds: float = BUDGET_SECONDS,
) -> ObservedDrift:
    """Read up to `max_pods` pods' pages within `budget_seconds`. `client`: an httpx.Client
    (analysis.fetch.client() when None, closed after)."""
    from modelpilot.operator.analysis import fetch
    from modelpilot.operator.analysis.errors import MetricsUnavailable

    if not pod_ips:
        return ObservedDrift(revision=revision, error="no Ready stable pod to read")
    live: dict[str, dict[str, dict[str, float]]] = {}
    reference: dict[str, dict[str, float]] = {}
    feedback: dict[str, FeedbackStats] = {}
    problems: list[str] = []
    start = clock()
    http = fetch.client() if client is None else client
    try:
        for ip in sorted(pod_ips)[:max_pods]:
            left = budget_seconds - (clock() - start)
            if left <= 0:
                problems.append(f"the scrape's {budget_seconds:g}s budget ran out before {ip}")
                break
            url = pod_url(ip)
            try:
                code, body = fetch.get(
                    http,
                    url,
                    deadline_seconds=min(SCRAPE_TIMEOUT_SECONDS, left),
                    max_bytes=MAX_PAGE_BYTES,
                    clock=clock,
                )
                if not 200 <= code <= 299:
                    raise MetricsUnavailable(f"{url}: HTTP {code}")
                page = body.decode(errors="replace")
                counts, shares = parse_drift(page, model=model, version=revision)
                labelled = parse_feedback(page, model=model, version=revision)
            except MetricsUnavailable as error:
                problems.append(str(error))
                continue
            except (ValueError, KeyError, TypeError) as error:
                # The parser's message may quote the page: the page is not ours to show.
                problems.append(f"{url}: not a drift page ({type(error).__name__})")
                continue
            live[ip] = counts
            feedback[ip] = labelled
            reference = reference or shares
    finally:
        if client is None:
            http.close()
    if not live:
        return ObservedDrift(revision=revision, error="; ".join(problems)[:_ERROR_CHARS])
    return ObservedDrift(revision=revision, live=live, reference=reference, feedback=feedback)


def parse_feedback(text: str, *, model: str, version: str) -> FeedbackStats:
    """One page's cumulative feedback counters (modelpilot.api.feedback)."""
    confusion: dict[tuple[str, str], float] = {}
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels: dict[str, Any] = sample.labels
            if (
                labels.get(metric_names.LABEL_MODEL) != model
                or labels.get(metric_names.LABEL_VERSION) != version
            ):
                continue
            if sample.name == metric_names.FEEDBACK_CONFUSION_TOTAL:
                key = (labels[metric_names.LABEL_LABEL], labels[metric_names.LABEL_PREDICTED])
                confusion[key] = sample.value
            elif sample.name == metric_names.FEEDBACK_SUM:
                sums[labels[metric_names.LABEL_STAT]] = sample.value
    return FeedbackStats(confusion=confusion, sums=sums)


def parse_drift(
    text: str, *, model: str, version: str
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """(live counts, reference shares) by feature and bin from one /metrics page."""
    live: dict[str, dict[str, float]] = defaultdict(dict)
    reference: dict[str, dict[str, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in (FEATURE_BIN_TOTAL, FEATURE_REFERENCE_RATIO):
                continue
            labels: dict[str, Any] = sample.labels
            if (
                labels.get(metric_names.LABEL_MODEL) != model
                or labels.get(metric_names.LABEL_VERSION) != version
            ):
                continue
            feature, bin_label = labels.get(LABEL_FEATURE), labels.get(LABEL_BIN)
            if feature is None or bin_label is None:
                raise ValueError(f"{sample.name} without its {LABEL_FEATURE}/{LABEL_BIN} labels")
            into = live if sample.name == FEATURE_BIN_TOTAL else reference
            into[feature][bin_label] = sample.value
    return dict(live), dict(reference)
