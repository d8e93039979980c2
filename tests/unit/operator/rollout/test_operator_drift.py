"""Drift monitoring, window by window: the first read sets the baseline, a window below
minRequests is Unknown, a shifted feature makes Drifted True naming it (Ready untouched), and
retrainOnDrift starts one Drifted revision per cooldown. Pure: the scraped counters are part
of the World."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import builders
from builders import NOW, ready_deployment, spec_dict

from modelpilot.api.spec import parse_spec
from modelpilot.api.status import ModelDeploymentStatus, Phase, StableStatus, Trigger
from modelpilot.operator.rollout import World, plan
from modelpilot.operator.rollout.actions import CreateTrainingJob
from modelpilot.operator.rollout.drift import drift_window_due, window_counts
from modelpilot.operator.rollout.naming import serving_selector
from modelpilot.operator.rollout.triggers import spec_hash
from modelpilot.operator.rollout.world import ObservedDrift, ObservedService

RAW = spec_dict(monitoring={"interval": "10s", "minRequests": 50, "maxFeaturePsi": 0.25})
SPEC = parse_spec(RAW)
RETRAIN = parse_spec(
    {**RAW, "monitoring": {**RAW["monitoring"], "retrainOnDrift": True, "cooldown": "5m"}}
)
HASH = spec_hash(SPEC)
REFERENCE = {
    "petal_length": {"0": 0.25, "1": 0.25, "2": 0.25, "3": 0.25},
    "sepal_width": {"0": 0.5, "1": 0.5},
}
SERVES = ModelDeploymentStatus(
    phase="Serving",
    revision_counter=1,
    last_spec_hash=HASH,
    last_revision_started_at=NOW - timedelta(hours=1),
    stable=StableStatus(
        revision="v1", model_sha256="a" * 64, deployment="iris-v1", service="iris", spec_hash=HASH
    ),
)


def counts(petal: list[float], sepal: list[float]) -> dict:
    return {
        "petal_length": {str(i): c for i, c in enumerate(petal)},
        "sepal_width": {str(i): c for i, c in enumerate(sepal)},
    }


# Service NAME selecting v1: Ready needs it (and the plan keeps it as is).
STABLE_SERVICE = {
    "iris": ObservedService("iris", serving_selector("iris", "v1")),
    "iris-v1": ObservedService("iris-v1", serving_selector("iris", "v1")),
}


def world(live: dict | None, error: str | None = None) -> World:
    deployment = ready_deployment("v1", pod_ips=("10.0.0.1",))
    drift = (
        None
        if live is None and error is None
        else ObservedDrift(
            revision="v1", live=live or {}, reference=REFERENCE if live else {}, error=error
        )
    )
    return builders.world(deployments={"v1": deployment}, services=STABLE_SERVICE, drift=drift)


def walk(spec, windows: list[dict]) -> list:
    """Plan each window 10 s apart, carrying the status; the plans in order."""
    status, plans = SERVES, []
    for i, live in enumerate(windows):
        p = plan(spec, status, world({"10.0.0.1": live}), NOW + timedelta(seconds=10 * i))
        plans.append(p)
        status = p.status
    return plans


def test_a_shifted_feature_makes_drifted_true_naming_it_and_ready_is_untouched():
    base = counts([10, 10, 10, 10], [20, 20])
    same = counts([35, 35, 35, 35], [70, 70])  # +25 in each petal bin, +50 per sepal bin
    shifted = counts([35, 35, 35, 135], [95, 95])  # petal: all 100 new rows in the top bin
    first, second, third = walk(SPEC, [base, same, shifted])

    assert first.status.condition("Drifted").reason == "Baseline"
    assert second.status.condition("Drifted").status == "False"
    assert second.status.monitoring.requests == 100

    drifted = third.status.condition("Drifted")
    assert (drifted.status, drifted.reason) == ("True", "FeatureDrift")
    assert "petal_length PSI" in drifted.message and "sepal_width" not in drifted.message
    assert third.status.monitoring.worst[0].feature == "petal_length"
    assert third.status.monitoring.worst[0].psi > 0.25
    assert [e.reason for e in third.events] == ["Drifted"]
    assert third.status.condition("Ready").status == "True"
    assert third.status.phase == "Serving"
    assert not any(isinstance(a, CreateTrainingJob) for a in third.actions)


def test_too_few_rows_is_unknown_and_an_unreadable_pod_too():
    base = counts([10, 10, 10, 10], [20, 20])
    few = counts([11, 10, 10, 10], [21, 20])
    _, second = walk(SPEC, [base, few])
    assert second.status.condition("Drifted").reason == "TooFewRequests"
    assert second.status.monitoring.drifted is None
    broken = plan(
        SPEC, second.status, world(None, error="connection refused"), NOW + timedelta(seconds=30)
    )
    assert broken.status.condition("Drifted").status == "Unknown"
    assert broken.status.condition("Drifted").reason == "MetricsUnavailable"


def test_retrain_on_drift_starts_one_drifted_revision_per_cooldown():
    base = counts([10, 10, 10, 10], [20, 20])
    shifted = counts([10, 10, 10, 110], [70, 70])
    _, second = walk(RETRAIN, [base, shifted])
    assert second.status.candidate.trigger is Trigger.DRIFTED
    assert second.status.monitoring.last_retrain_at == NOW + timedelta(seconds=10)
    assert any(isinstance(a, CreateTrainingJob) for a in second.actions)

    # The revision concluded (rejected, say), drift persists: nothing until the cooldown ends.
    settled = second.status.model_copy(update={"candidate": None, "phase": Phase.SERVING})
    again = counts([10, 10, 10, 210], [120, 120])
    soon = plan(RETRAIN, settled, world({"10.0.0.1": again}), NOW + timedelta(seconds=20))
    assert soon.status.condition("Drifted").status == "True"
    assert soon.status.candidate is None
    later_counts = counts([10, 10, 10, 310], [170, 170])
    later = plan(
        RETRAIN, soon.status, world({"10.0.0.1": later_counts}), NOW + timedelta(minutes=6)
    )
    assert later.status.candidate.trigger is Trigger.DRIFTED


def test_windows_are_due_every_interval_and_requeue_says_when():
    assert drift_window_due(SPEC, SERVES, NOW)
    first = plan(SPEC, SERVES, world({"10.0.0.1": counts([1, 1, 1, 1], [2, 2])}), NOW)
    assert not drift_window_due(SPEC, first.status, NOW + timedelta(seconds=9))
    assert drift_window_due(SPEC, first.status, NOW + timedelta(seconds=10))
    assert first.requeue_after == 10


def test_a_restarted_or_new_pod_counts_in_full():
    previous = {"a": {"f": {"0": 10.0, "1": 5.0}}}
    live = {"a": {"f": {"0": 2.0, "1": 1.0}}, "b": {"f": {"0": 4.0, "1": 0.0}}}
    assert window_counts(live, previous) == {"f": {"0": 6.0, "1": 1.0}}


def test_a_cooldown_shorter_than_a_window_is_refused_naming_both():
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match=r"cooldown 5s must be at least .* 10s"):
        parse_spec({**RAW, "monitoring": {"interval": "10s", "cooldown": "5s"}})


def test_a_monitoring_interval_below_the_minimum_is_refused_naming_it():
    # Issue 21 §4: interval 0s was valid, and every tick then scraped the tenant's pods.
    import pydantic
    import pytest
    import yaml

    from modelpilot.api.spec import MIN_MONITORING_INTERVAL

    for interval in ("0s", "1s", "4999ms"):
        with pytest.raises(
            pydantic.ValidationError, match=f"interval {interval} must be at least 5s"
        ):
            parse_spec({**RAW, "monitoring": {"interval": interval, "cooldown": "1h"}})
    parse_spec({**RAW, "monitoring": {"interval": MIN_MONITORING_INTERVAL}})
    # ... and the CRD refuses it at `kubectl apply` with the same words.
    crd = (
        Path(__file__).parents[4] / "manifests" / "crd" / "modelpilot.dev_modeldeployments.yaml"
    ).read_text()
    rules = json.dumps(yaml.safe_load(crd))
    assert "spec.monitoring.interval must be at least 5s" in rules


def test_the_snapshot_in_status_is_bounded_with_many_pods_and_long_category_values():
    # Issue 21 §4: the snapshot grew with pods x bins x label length, past etcd's limit on
    # a model with many replicas and long category values (seen failing: ~6 MB on main).
    import json

    from modelpilot.api.status import dump_status
    from modelpilot.operator.rollout.drift import SNAPSHOT_LIMIT_BYTES

    city = {f"{'a-very-long-category-value-' * 8}{i}": 3.0 for i in range(200)}
    live = {
        f"10.0.{i // 250}.{i % 250}": {**counts([5, 5, 5, 5], [10, 10]), "city": city}
        for i in range(120)
    }
    status = plan(SPEC, SERVES, world(live), NOW).status
    assert status.monitoring is not None and status.monitoring.snapshot
    snapshot = status.monitoring.snapshot
    assert len(json.dumps(snapshot, separators=(",", ":")).encode()) <= SNAPSHOT_LIMIT_BYTES
    assert len(json.dumps(dump_status(status)).encode()) < 2 * SNAPSHOT_LIMIT_BYTES
    # The next window still judges: pods left out of the snapshot count in full.
    after = plan(SPEC, status, world(live), NOW + timedelta(seconds=10)).status
    assert after.monitoring is not None and after.monitoring.requests is not None
    assert after.monitoring.requests > 0


def test_monitoring_and_data_watch_messages_are_capped_like_the_others():
    from modelpilot.api.status import MESSAGE_LIMIT_BYTES, DataWatchStatus, MonitoringStatus

    long = "x" * 100_000
    assert len(MonitoringStatus(message=long).message.encode()) <= MESSAGE_LIMIT_BYTES
    assert len(DataWatchStatus(message=long).message.encode()) <= MESSAGE_LIMIT_BYTES
