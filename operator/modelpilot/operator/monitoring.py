"""Reading the stable pods' drift counters when a monitoring window is due (spec.monitoring).

I/O, so it happens here, before plan(), and lands in the frozen World (`drift`); plan() only
judges it (modelpilot.operator.rollout.drift). When a window is due is decided by the same
pure helper plan() uses, so the two never disagree. Errors do not escape: pods that cannot be
read become `ObservedDrift.error`, and Drifted goes Unknown for that window.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
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
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import ModelDeploymentStatus
from modelpilot.operator.rollout.drift import drift_window_due
from modelpilot.operator.rollout.world import ObservedDrift, World

SCRAPE_TIMEOUT_SECONDS = 2.0


def observe_drift(
    world: World, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, *, now: datetime
) -> World:
    """`world` with the stable pods' drift counters filled in when a window is due."""
    if not drift_window_due(spec, status, now):
        return world
    stable = status.stable
    assert stable is not None
    deployment = world.deployments.get(stable.revision)
    ips = () if deployment is None else deployment.pod_ips
    return dataclasses.replace(world, drift=scrape(world.name, stable.revision, ips))


def scrape(model: str, revision: str, pod_ips: tuple[str, ...]) -> ObservedDrift:
    import httpx

    if not pod_ips:
        return ObservedDrift(revision=revision, error="no Ready stable pod to read")
    live: dict[str, dict[str, dict[str, float]]] = {}
    reference: dict[str, dict[str, float]] = {}
    problems: list[str] = []
    with httpx.Client(timeout=SCRAPE_TIMEOUT_SECONDS) as client:
        for ip in pod_ips:
            url = f"http://{ip}:{names.SERVING_PORT}/metrics"
            try:
                response = client.get(url)
                response.raise_for_status()
                counts, shares = parse_drift(response.text, model=model, version=revision)
            except (httpx.HTTPError, ValueError) as error:
                problems.append(f"{url}: {error}")
                continue
            live[ip] = counts
            reference = reference or shares
    if not live:
        return ObservedDrift(revision=revision, error="; ".join(problems))
    return ObservedDrift(revision=revision, live=live, reference=reference)


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
            into = live if sample.name == FEATURE_BIN_TOTAL else reference
            into[labels[LABEL_FEATURE]][labels[LABEL_BIN]] = sample.value
    return dict(live), dict(reference)
