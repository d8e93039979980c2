"""Ground truth, window by window: the live gate metric from the pods' feedback counters over
a sliding window with a minimum count, the Degraded condition it sets, and `retrainOn:
[Degraded]` starting one revision per cooldown. Pure: the scraped counters are in the World;
the metrics are checked against scikit-learn's own."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pydantic
import pytest
from sklearn import metrics as sk

from modelpilot.api.feedback import (
    ABS_ERROR,
    LABEL,
    LABEL_SQUARED,
    ROWS,
    SQUARED_ERROR,
    FeedbackStats,
    is_degraded,
    live_metric,
)
from modelpilot.api.spec import parse_spec
from modelpilot.api.status import ModelDeploymentStatus, StableStatus, Trigger
from modelpilot.operator.monitoring import parse_feedback
from modelpilot.operator.rollout import ObservedDeployment, World, plan
from modelpilot.operator.rollout.actions import CreateTrainingJob, EnsureServingDeployment
from modelpilot.operator.rollout.naming import serving_selector
from modelpilot.operator.rollout.performance import window_stats
from modelpilot.operator.rollout.triggers import spec_hash
from modelpilot.operator.rollout.world import ObservedDrift, ObservedService

# -- the metric from sufficient statistics ----------------------------------------------------


def confusion_of(y, p) -> FeedbackStats:
    out: dict[tuple[str, str], float] = {}
    for label, predicted in zip(y, p, strict=True):
        key = (str(label), str(predicted))
        out[key] = out.get(key, 0.0) + 1
    return FeedbackStats(confusion=out)


def sums_of(y, p) -> FeedbackStats:
    y, p = np.asarray(y, float), np.asarray(p, float)
    return FeedbackStats(
        sums={
            ROWS: len(y),
            ABS_ERROR: float(np.abs(y - p).sum()),
            SQUARED_ERROR: float(((y - p) ** 2).sum()),
            LABEL: float(y.sum()),
            LABEL_SQUARED: float((y**2).sum()),
        }
    )


RNG = np.random.default_rng(0)
Y = RNG.integers(0, 4, 500)
P = np.where(RNG.random(500) < 0.7, Y, RNG.integers(0, 5, 500))  # a class never labelled: 4


@pytest.mark.parametrize(
    ("metric", "oracle"),
    [
        ("accuracy", sk.accuracy_score),
        ("balanced_accuracy", sk.balanced_accuracy_score),
        ("f1_macro", lambda y, p: sk.f1_score(y, p, average="macro", zero_division=0)),
        (
            "precision_macro",
            lambda y, p: sk.precision_score(y, p, average="macro", zero_division=0),
        ),
        ("recall_macro", lambda y, p: sk.recall_score(y, p, average="macro", zero_division=0)),
    ],
)
def test_classifier_metrics_from_the_confusion_counts_equal_scikit_learns(metric, oracle):
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # balanced accuracy: "y_pred contains classes not in y_true"
        expected = oracle(Y, P)
    assert live_metric(metric, confusion_of(Y, P)) == pytest.approx(expected)


YR = RNG.normal(50, 10, 300)
PR = YR + RNG.normal(0, 3, 300)


@pytest.mark.parametrize(
    ("metric", "oracle"),
    [
        ("rmse", lambda y, p: sk.root_mean_squared_error(y, p)),
        ("mae", sk.mean_absolute_error),
        ("r2", sk.r2_score),
    ],
)
def test_regressor_metrics_from_the_sums_equal_scikit_learns(metric, oracle):
    assert live_metric(metric, sums_of(YR, PR)) == pytest.approx(oracle(YR, PR))


def test_windows_add_up_to_the_metric_of_all_their_rows():
    halves = sums_of(YR[:100], PR[:100]).plus(sums_of(YR[100:], PR[100:]))
    assert live_metric("r2", halves) == pytest.approx(sk.r2_score(YR, PR))
    assert live_metric("accuracy", FeedbackStats()) is None  # no rows
    assert live_metric("r2", sums_of([3.0, 3.0], [2.0, 4.0])) is None  # constant label


@pytest.mark.parametrize(
    ("metric", "value", "threshold", "degraded"),
    [
        ("accuracy", 0.79, 0.8, True),
        ("accuracy", 0.8, 0.8, False),
        ("rmse", 5.1, 5.0, True),  # an error metric: above is worse
        ("rmse", 4.9, 5.0, False),
        ("r2", -0.2, 0.0, True),
    ],
)
def test_degraded_is_below_the_threshold_or_above_it_for_error_metrics(
    metric, value, threshold, degraded
):
    assert is_degraded(metric, value, threshold) is degraded


# -- the window over pods ---------------------------------------------------------------------


def test_a_window_is_the_difference_per_pod_and_a_new_or_restarted_pod_counts_in_full():
    before = {
        "10.0.0.1": {"confusion": [["0", "0", 5.0], ["1", "0", 2.0]]},
        "10.0.0.2": {"confusion": [["1", "1", 9.0]]},
    }
    live = {
        "10.0.0.1": FeedbackStats(confusion={("0", "0"): 8.0, ("1", "0"): 2.0}),  # +3
        "10.0.0.2": FeedbackStats(confusion={("1", "1"): 1.0}),  # restarted: 1 in full
        "10.0.0.3": FeedbackStats(confusion={("0", "1"): 4.0}),  # new: 4 in full
    }
    window = window_stats(live, before)
    assert dict(window.confusion) == {("0", "0"): 3.0, ("1", "1"): 1.0, ("0", "1"): 4.0}


def test_the_feedback_counters_are_read_from_a_pods_metrics_page():
    page = (
        "# TYPE modelpilot_feedback_confusion_total counter\n"
        'modelpilot_feedback_confusion_total{model="iris",version="v1",label="0",predicted="1"}'
        " 3.0\n"
        'modelpilot_feedback_confusion_total{model="iris",version="v2",label="0",predicted="0"}'
        " 9.0\n"
        "# TYPE modelpilot_feedback_sum gauge\n"
        'modelpilot_feedback_sum{model="iris",version="v1",stat="rows"} 0.0\n'
    )
    stats = parse_feedback(page, model="iris", version="v1")
    assert dict(stats.confusion) == {("0", "1"): 3.0}
    assert dict(stats.sums) == {"rows": 0.0}


# -- Degraded through plan() ------------------------------------------------------------------

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RAW = {
    "training": {
        "dataset": {"builtin": "iris"},
        "estimator": "sklearn.tree.DecisionTreeClassifier",
    },
    "evaluation": {"metric": "accuracy", "threshold": 0.8},
    "modelStore": {"pvc": {"claimName": "models"}},
    "monitoring": {
        "interval": "10s",
        "performance": {"threshold": 0.8, "window": "30s", "minCount": 20},
    },
}
SPEC = parse_spec(RAW)
RETRAIN = parse_spec(
    {**RAW, "monitoring": {**RAW["monitoring"], "retrainOn": ["Degraded"], "cooldown": "5m"}}
)
HASH = spec_hash(SPEC)
SERVES = ModelDeploymentStatus(
    phase="Serving",
    revision_counter=1,
    last_spec_hash=HASH,
    last_revision_started_at=NOW - timedelta(hours=1),
    stable=StableStatus(
        revision="v1", model_sha256="a" * 64, deployment="iris-v1", service="iris", spec_hash=HASH
    ),
)
SERVICES = {
    "iris": ObservedService("iris", serving_selector("iris", "v1")),
    "iris-v1": ObservedService("iris-v1", serving_selector("iris", "v1")),
}


def world(right: float, wrong: float, *, error: str | None = None) -> World:
    intent = EnsureServingDeployment(
        name="iris-v1",
        model="iris",
        revision="v1",
        model_sha256="a" * 64,
        store_claim="models",
        replicas=1,
    )
    deployment = ObservedDeployment(
        name="iris-v1",
        revision="v1",
        replicas=1,
        ready_replicas=1,
        updated_replicas=1,
        intent_hash=intent.intent_hash(),
        pod_ips=("10.0.0.1",),
    )
    counters = FeedbackStats(confusion={("0", "0"): right, ("1", "0"): wrong})
    drift = ObservedDrift(revision="v1", feedback={"10.0.0.1": counters}, error=error)
    return World(
        name="iris",
        namespace="ml",
        generation=1,
        deployments={"v1": deployment},
        services=SERVICES,
        drift=drift,
    )


def walk(spec, cumulative: list[tuple[float, float]]) -> list:
    """Plan each scrape 10 s apart, carrying the status; the plans in order."""
    status, plans = SERVES, []
    for i, (right, wrong) in enumerate(cumulative):
        p = plan(spec, status, world(right, wrong), NOW + timedelta(seconds=10 * i))
        plans.append(p)
        status = p.status
    return plans


def test_too_few_labels_leave_degraded_unknown_and_ready_untouched():
    (first,) = walk(SPEC, [(5, 5)])
    degraded = first.status.condition("Degraded")
    assert (degraded.status, degraded.reason) == ("Unknown", "TooFewLabels")
    assert "10 labelled rows in the 30s window < minCount 20" in degraded.message
    assert first.status.condition("Ready").status == "True"
    assert first.status.monitoring.performance.count == 10


def test_wrong_labels_turn_degraded_on_and_the_window_slides_them_out():
    plans = walk(
        SPEC,
        [
            (30, 0),  # 30 right: accuracy 1.0
            (30, 40),  # + 40 wrong: 30/70 in the window
            (30, 40),  # nothing new
            (30, 40),
            (90, 40),  # + 60 right; the 40 wrong left the 30 s window: 60/60
        ],
    )
    states = [p.status.condition("Degraded").status for p in plans]
    assert states == ["False", "True", "True", "True", "False"]
    second = plans[1].status
    assert second.monitoring.performance.value == pytest.approx(30 / 70)
    assert "live accuracy 0.4286 over 70 labelled rows" in second.condition("Degraded").message
    assert [e.reason for e in plans[1].events] == ["Degraded"]
    assert [e.reason for e in plans[4].events] == ["DegradationCleared"]
    # Degraded alone starts nothing without retrainOn.
    assert not any(isinstance(a, CreateTrainingJob) for p in plans for a in p.actions)


def test_retrain_on_degraded_starts_one_revision_per_cooldown():
    plans = walk(RETRAIN, [(30, 0), (30, 40)])
    started = plans[1].status.candidate
    assert started is not None and started.trigger is Trigger.DEGRADED
    assert plans[1].status.monitoring.last_retrain_at == NOW + timedelta(seconds=10)


def test_retrain_on_drift_still_means_drifted():
    spec = parse_spec({**RAW, "monitoring": {**RAW["monitoring"], "retrainOnDrift": True}})
    assert spec.monitoring.retrain_reasons == {"Drifted"}
    assert RETRAIN.monitoring.retrain_reasons == {"Degraded"}


def test_unreadable_counters_make_degraded_unknown():
    p = plan(SPEC, SERVES, world(0, 0, error="no Ready stable pod to read"), NOW)
    degraded = p.status.condition("Degraded")
    assert (degraded.status, degraded.reason) == ("Unknown", "MetricsUnavailable")


def test_removing_performance_removes_its_condition():
    (first,) = walk(SPEC, [(30, 0)])
    without = parse_spec({**RAW, "monitoring": {"interval": "10s"}})
    p = plan(without, first.status, world(30, 0), NOW + timedelta(seconds=10))
    assert p.status.condition("Degraded") is None
    assert p.status.monitoring.performance is None


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"evaluation": {"metric": "roc_auc"}}, "works for accuracy"),
        (
            {
                "monitoring": {"logging": {"sampleRate": 0.1}},
                "modelStore": {"s3": {"bucket": "models"}},
            },
            "needs a PVC",
        ),
        (
            {
                "training": {
                    **RAW["training"],
                    "dataset": {"builtin": "iris", "include": ["feedback"]},
                }
            },
            "needs spec.monitoring.logging",
        ),
    ],
    ids=["metric-not-live", "logging-on-s3", "feedback-without-logging"],
)
def test_an_inconsistent_feedback_spec_is_refused_naming_the_field(change, match):
    with pytest.raises(pydantic.ValidationError, match=match):
        parse_spec({**RAW, **change})
