"""spec.training.dataset.watch, tick by tick: a probe Job every interval while stable serves,
its report read and the Job removed; a changed fingerprint starts one DataChanged revision,
an unchanged one nothing. Pure: probe Jobs and their reports are part of the World."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import builders
from builders import ready_deployment

from modelpilot.api.fingerprint import DataProbeReport
from modelpilot.api.spec import parse_spec
from modelpilot.api.status import ModelDeploymentStatus, StableStatus, Trigger
from modelpilot.operator.rollout import World, plan
from modelpilot.operator.rollout.actions import (
    CreateTrainingJob,
    DeleteJob,
)
from modelpilot.operator.rollout.naming import serving_selector
from modelpilot.operator.rollout.triggers import spec_hash
from modelpilot.operator.rollout.world import ObservedProbe, ObservedService

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RAW = {
    "training": {
        "dataset": {"uri": "/models/data/iris.csv", "target": "y", "watch": {"interval": "30s"}},
        "estimator": "sklearn.tree.DecisionTreeClassifier",
    },
    "evaluation": {"metric": "accuracy", "threshold": 0.8},
    "modelStore": {"pvc": {"claimName": "models"}},
}
SPEC = parse_spec(RAW)
HASH = spec_hash(SPEC)
TRAINED = "1" * 64
SERVES = ModelDeploymentStatus(
    phase="Serving",
    revision_counter=1,
    last_spec_hash=HASH,
    last_revision_started_at=NOW - timedelta(hours=1),
    stable=StableStatus(
        revision="v1",
        model_sha256="a" * 64,
        deployment="iris-v1",
        service="iris",
        spec_hash=HASH,
        training_data_sha256=TRAINED,
    ),
)


# Service NAME selecting v1: Ready needs it (and the plan keeps it as is).
STABLE_SERVICE = {
    "iris": ObservedService("iris", serving_selector("iris", "v1")),
    "iris-v1": ObservedService("iris-v1", serving_selector("iris", "v1")),
}


def world(probes: dict | None = None) -> World:
    return builders.world(
        deployments={"v1": ready_deployment("v1")}, services=STABLE_SERVICE, probes=probes or {}
    )


def reported(name: str, fingerprint: str) -> dict:
    report = DataProbeReport(ok=True, fingerprint=fingerprint, signals={"size": "10"}, hashed=True)
    return {name: ObservedProbe(name=name, finished=True, report=report)}


def test_a_changed_fingerprint_starts_one_data_changed_revision():
    first = plan(SPEC, SERVES, world(), NOW)
    [probe] = [a for a in first.actions if isinstance(a, CreateTrainingJob)]
    assert (probe.name, probe.fingerprint_only, probe.backoff_limit) == ("iris-data-1", True, 0)
    assert first.status.data_watch.probe_job == "iris-data-1"
    assert first.status.candidate is None

    second = plan(
        SPEC, first.status, world(reported("iris-data-1", "2" * 64)), NOW + timedelta(seconds=5)
    )
    assert second.status.candidate.trigger is Trigger.DATA_CHANGED
    watched = second.status.data_watch
    assert (watched.observed_sha256, watched.trained_sha256) == ("2" * 64, TRAINED)
    assert DeleteJob("iris-data-1", reason="data probe done") in second.actions
    jobs = [a for a in second.actions if isinstance(a, CreateTrainingJob)]
    assert [(j.name, j.fingerprint_only) for j in jobs] == [("iris-train-v2", False)]
    assert [e.reason for e in second.events] == ["DataChanged", "RevisionStarted"]


def test_an_unchanged_dataset_starts_nothing_and_the_next_probe_waits_an_interval():
    first = plan(SPEC, SERVES, world(), NOW)
    second = plan(
        SPEC, first.status, world(reported("iris-data-1", TRAINED)), NOW + timedelta(seconds=5)
    )
    assert second.status.candidate is None
    assert not any(isinstance(a, CreateTrainingJob) for a in second.actions)
    assert second.status.data_watch.message == "the dataset is unchanged (hashed)"
    assert second.requeue_after == 30
    third = plan(SPEC, second.status, world(), NOW + timedelta(seconds=35))
    [probe] = [a for a in third.actions if isinstance(a, CreateTrainingJob)]
    assert probe.name == "iris-data-2"
    assert '"fingerprint": "' + TRAINED in probe.previous_report  # the cheap path's input


def test_no_probe_while_pinned_or_in_flight():
    pinned = parse_spec({**RAW, "serving": {"pinRevision": "v1"}})
    p = plan(pinned, SERVES.model_copy(update={"history": []}), world(), NOW)
    assert not any(isinstance(a, CreateTrainingJob) for a in p.actions)


def test_changing_only_the_watch_interval_is_not_a_new_spec():
    slower = parse_spec(
        {
            **RAW,
            "training": {
                **RAW["training"],
                "dataset": {**RAW["training"]["dataset"], "watch": {"interval": "1h"}},
            },
        }
    )
    assert spec_hash(slower) == HASH


def test_replanning_while_the_probe_runs_changes_nothing():
    first = plan(SPEC, SERVES, world(), NOW)
    running = {"iris-data-1": ObservedProbe(name="iris-data-1")}
    again = plan(SPEC, first.status, world(running), NOW + timedelta(seconds=2))
    assert not [a for a in again.actions if isinstance(a, (CreateTrainingJob, DeleteJob))]
    assert again.status.data_watch == first.status.data_watch


def test_turning_the_watch_off_removes_its_probe_and_status():
    first = plan(SPEC, SERVES, world(), NOW)
    off = parse_spec(
        {
            **RAW,
            "training": {
                **RAW["training"],
                "dataset": {"uri": "/models/data/iris.csv", "target": "y"},
            },
        }
    )
    running = {"iris-data-1": ObservedProbe(name="iris-data-1")}
    p = plan(off, first.status, world(running), NOW + timedelta(seconds=2))
    assert DeleteJob("iris-data-1", reason="spec.training.dataset.watch is off") in p.actions
    assert p.status.data_watch is None
