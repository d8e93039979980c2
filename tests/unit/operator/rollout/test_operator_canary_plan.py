"""plan() in the Canary phase, one tick at a time: (status, world, now) in, (step, weight,
actions) out. Pure: the analysis window and the route's weights are part of the World, so
no fakes at all; every transition is also checked against the phases table.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from builders import NOW, ready_deployment, spec_dict
from convergence import assert_converges, second_tick_actions
from expected_actions import assert_actions

from modelpilot.api import names
from modelpilot.api.spec import parse_spec
from modelpilot.api.status import (
    AnalysisStatus,
    AnalysisWindow,
    CanaryStatus,
    CandidateStatus,
    ModelDeploymentStatus,
    StableStatus,
)
from modelpilot.operator.analysis.counts import Counts, Snapshot
from modelpilot.operator.analysis.source import Sample
from modelpilot.operator.rollout import ObservedDeployment, ObservedService, World, plan
from modelpilot.operator.rollout.actions import (
    CreateTrainingJob,
    DeleteDeployment,
    DeleteService,
    EnsureService,
    FinalizeRoutes,
    Route,
    ScaleDeployment,
    SetWeights,
)
from modelpilot.operator.rollout.phases import allowed
from modelpilot.operator.rollout.triggers import spec_hash
from modelpilot.operator.rollout.world import ObservedAnalysis
from modelpilot.operator.routers.weights import Weights

RAW = spec_dict(
    serving={"replicas": 2},
    rollout={
        "steps": [
            {"setWeight": 20},
            {"pause": {"duration": "30s"}},
            {"setWeight": 50},
            {"pause": {}},
        ],
        "analysis": {
            "interval": "10s",
            "minRequests": 10,
            "failureLimit": 2,
            "inconclusiveLimit": 3,
        },
    },
)
SPEC = parse_spec(RAW)
MESH = parse_spec(
    {**RAW, "rollout": {**RAW["rollout"], "trafficRouter": {"gatewayAPI": {"httpRoute": "iris"}}}}
)
PAUSE_ON_INCONCLUSIVE = parse_spec(
    {
        **RAW,
        "rollout": {
            **RAW["rollout"],
            "analysis": {**RAW["rollout"]["analysis"], "onInconclusive": "Pause"},
        },
    }
)
HASH = spec_hash(SPEC)
STABLE = StableStatus(
    revision="v1", model_sha256="a" * 64, deployment="iris-v1", service="iris", spec_hash=HASH
)
CANDIDATE = CandidateStatus(
    revision="v2",
    state="Canary",
    trigger="RetrainRequested",
    spec_hash=HASH,
    job="iris-train-v2",
    started_at=NOW,
    model_sha256="b" * 64,
    deployment="iris-v2",
    stable_revision="v1",
)
HEALTHY = Counts(requests={"2xx": 40}, latency={0.01: 40, float("inf"): 0})
SLOW = Counts(requests={"2xx": 40}, latency={0.5: 40, float("inf"): 0})
QUIET = Counts(requests={"2xx": 3}, latency={0.01: 3, float("inf"): 0})
BOTH = {names.LABEL_MODEL: "iris", names.LABEL_COMPONENT: "serving"}


def passed_window(ended: datetime) -> AnalysisWindow:
    return AnalysisWindow(
        started_at=ended - timedelta(seconds=10), ended_at=ended, verdict="Passed"
    )


def canary(step: int = 0, weight: int = 0, started: datetime = NOW, **kw) -> CanaryStatus:
    steps = ["1/4 setWeight 20", "2/4 pause 30s", "3/4 setWeight 50", "4/4 pause", "done"]
    return CanaryStatus(
        revision="v2",
        step_index=step,
        step_started_at=started,
        weight=weight,
        step=steps[step],
        **kw,
    )


def status(c: CanaryStatus, **kw) -> ModelDeploymentStatus:
    base = {
        "phase": "Canary",
        "revision_counter": 2,
        "last_spec_hash": HASH,
        "last_revision_started_at": NOW,
        "stable": STABLE,
        "candidate": CANDIDATE,
        "canary": c,
    }
    return ModelDeploymentStatus(**{**base, **kw})


def dep(rev: str, replicas: int, ready: int | None = None, spec=SPEC) -> ObservedDeployment:
    return ready_deployment(
        rev, replicas=replicas, ready_replicas=replicas if ready is None else ready
    )


def world(canary_pods: int = 1, canary_ready: int | None = None, mesh=False, **kw) -> World:
    services = {
        "iris": ObservedService("iris", {**BOTH, names.LABEL_REVISION: "v1"} if mesh else BOTH),
        "iris-v1": ObservedService("iris-v1", {**BOTH, names.LABEL_REVISION: "v1"}),
        "iris-v2": ObservedService("iris-v2", {**BOTH, names.LABEL_REVISION: "v2"}),
    }
    deployments = {"v1": dep("v1", 2), "v2": dep("v2", canary_pods, canary_ready)}
    return World(
        name="iris",
        namespace="ml",
        generation=1,
        deployments=kw.pop("deployments", deployments),
        services=kw.pop("services", services),
        store_claim_labels=kw.pop("store_claim_labels", {names.LABEL_MODEL_STORE: "true"}),
        **kw,
    )


def window(
    canary_counts: Counts | None, stable_counts: Counts | None = HEALTHY
) -> ObservedAnalysis:
    snap = Snapshot(pods={"10.0.0.1": Counts()})
    return ObservedAnalysis(
        canary=Sample(window=canary_counts, snapshot=snap),
        stable=Sample(window=stable_counts, snapshot=snap),
    )


def scale(replicas: int) -> ScaleDeployment:
    return ScaleDeployment("iris-v2", replicas)


def point_service_at(revision: str) -> EnsureService:
    """Service iris back on one revision (the canary ended)."""
    return EnsureService("iris", "iris", {**BOTH, names.LABEL_REVISION: revision})


def remove(revision: str) -> tuple[DeleteDeployment, DeleteService]:
    return (
        DeleteDeployment(f"iris-{revision}", f"{revision} neither serves nor is a candidate"),
        DeleteService(f"iris-{revision}", "no revision behind it"),
    )


MESH_ROUTE = Route(MESH.rollout.traffic_router, "v1", "v2", 2)


def set_weights(canary: int) -> SetWeights:
    return SetWeights(stable=100 - canary, canary=canary, route=MESH_ROUTE)


def finalize(*, promoted: bool) -> FinalizeRoutes:
    reason = "v2 was promoted over v1" if promoted else "v2 no longer serves beside v1"
    return FinalizeRoutes(MESH_ROUTE, promoted=promoted, reason=reason)


AFTER_PAUSE = NOW + timedelta(seconds=31)
CASES = [
    # id, spec, status, world, now, (phase, step, weight), actions, CanaryHealthy reason
    (
        "set-weight-waits-for-ready-canary-pods",
        SPEC,
        status(canary(0)),
        world(canary_ready=0),
        NOW,
        ("Canary", 0, 0),
        (),
        None,
    ),
    (
        "set-weight-scales-the-canary-ahead",
        SPEC,
        status(canary(0)),
        world(canary_pods=0, canary_ready=0),
        NOW,
        ("Canary", 0, 0),
        (scale(1),),
        None,
    ),
    (
        "set-weight-moves-once-pods-are-ready",
        SPEC,
        status(canary(0)),
        world(),
        NOW,
        ("Canary", 1, 20),
        (),
        None,
    ),
    (
        "pause-waits-for-its-duration",
        SPEC,
        status(canary(1, 20)),
        world(),
        NOW + timedelta(seconds=10),
        ("Canary", 1, 20),
        (),
        None,
    ),
    (
        "pause-over-holds-without-a-passed-window",
        SPEC,
        status(canary(1, 20)),
        world(),
        AFTER_PAUSE,
        ("Canary", 1, 20),
        (),
        None,
    ),
    (
        "pause-over-with-a-passed-window-advances",
        SPEC,
        status(canary(1, 20, analysis=AnalysisStatus(windows=[passed_window(AFTER_PAUSE)]))),
        world(),
        AFTER_PAUSE,
        ("Canary", 2, 20),
        (),
        None,
    ),
    (
        "second-set-weight-moves-when-the-pods-already-suffice",  # 50 % of 2 is 1 pod, too
        SPEC,
        status(canary(2, 20)),
        world(),
        NOW,
        ("Canary", 3, 50),
        (),
        None,
    ),
    (
        "second-set-weight-scales-up-first",
        parse_spec({**RAW, "serving": {"replicas": 3}}),
        status(canary(2, 20)),
        world(deployments={"v1": dep("v1", 3), "v2": dep("v2", 1)}),
        NOW,
        ("Canary", 2, 20),
        (scale(2),),
        None,
    ),
    (
        "pause-without-duration-waits-for-promote",
        SPEC,
        status(canary(3, 50)),
        world(),
        NOW + timedelta(hours=1),
        ("Canary", 3, 50),
        (),
        None,
    ),
    (
        "promote-annotation-completes-the-pause",
        SPEC,
        status(canary(3, 50, paused=True)),
        world(annotations={names.ANNOTATION_PROMOTE: "p"}),
        NOW,
        ("Canary", 4, 50),
        (scale(2),),
        None,
    ),
    (
        "promote-full-skips-every-step",
        SPEC,
        status(canary(0)),
        world(annotations={names.ANNOTATION_PROMOTE: "p", names.ANNOTATION_PROMOTE_FULL: "true"}),
        NOW,
        ("Canary", 4, 0),
        (scale(2),),
        None,
    ),
    (
        "promotion-waits-for-all-canary-pods",
        SPEC,
        status(canary(4, 50)),
        world(canary_pods=2, canary_ready=1),
        NOW,
        ("Canary", 4, 50),
        (),
        None,
    ),
    (
        "mesh-promotion-never-routes-to-unready-pods",
        MESH,
        status(canary(4, 50)),
        world(canary_pods=2, canary_ready=1, mesh=True, route_weights=Weights.canary_at(50)),
        NOW,
        ("Canary", 4, 50),
        (),
        None,
    ),
    (
        "promotion-with-all-pods-ready-promotes",
        SPEC,
        status(canary(4, 100)),
        world(canary_pods=2),
        NOW,
        ("Serving", None, None),
        (point_service_at("v2"), *remove("v1")),
        "Promoted",
    ),
    (
        "baseline-window-is-not-counted",
        SPEC,
        status(canary(1, 20)),
        world(analysis=window(None, None)),
        NOW,
        ("Canary", 1, 20),
        (),
        None,
    ),
    (
        "passing-window-is-healthy",
        SPEC,
        status(canary(1, 20)),
        world(analysis=window(HEALTHY)),
        NOW,
        ("Canary", 1, 20),
        (),
        "AnalysisPassed",
    ),
    (
        "first-failed-window-warns",
        SPEC,
        status(canary(1, 20)),
        world(analysis=window(SLOW)),
        NOW,
        ("Canary", 1, 20),
        (),
        "AnalysisFailed",
    ),
    (
        "failure-limit-rolls-back",
        SPEC,
        status(canary(1, 20, analysis=AnalysisStatus(failures=1))),
        world(analysis=window(SLOW)),
        NOW,
        ("RolledBack", 1, 0),
        (point_service_at("v1"), *remove("v2")),
        "AnalysisFailed",
    ),
    (
        "inconclusive-window-holds",
        SPEC,
        status(canary(1, 20)),
        world(analysis=window(QUIET)),
        NOW,
        ("Canary", 1, 20),
        (),
        "AnalysisInconclusive",
    ),
    (
        "inconclusive-limit-aborts-by-default",
        SPEC,
        status(canary(1, 20, analysis=AnalysisStatus(inconclusive=2))),
        world(analysis=window(QUIET)),
        NOW,
        ("RolledBack", 1, 0),
        (point_service_at("v1"), *remove("v2")),
        "AnalysisInconclusive",
    ),
    (
        "inconclusive-limit-may-pause-instead",
        PAUSE_ON_INCONCLUSIVE,
        status(canary(1, 20, analysis=AnalysisStatus(inconclusive=2))),
        world(analysis=window(QUIET)),
        AFTER_PAUSE,
        ("Canary", 1, 20),
        (),
        "AnalysisInconclusive",
    ),
    (
        "paused-by-the-analysis-holds-a-set-weight-step",
        PAUSE_ON_INCONCLUSIVE,
        status(canary(2, 20, paused=True)),
        world(),
        NOW,
        ("Canary", 2, 20),
        (),
        None,
    ),
    (
        "unreadable-metrics-are-inconclusive",
        SPEC,
        status(canary(1, 20)),
        world(analysis=ObservedAnalysis(error="no v2 pod answered /metrics")),
        NOW,
        ("Canary", 1, 20),
        (),
        "AnalysisInconclusive",
    ),
    (
        "abort-annotation-rolls-back-at-once",
        SPEC,
        status(canary(3, 50, paused=True)),
        world(annotations={names.ANNOTATION_ABORT: "a"}),
        NOW,
        ("RolledBack", 3, 0),
        (point_service_at("v1"), *remove("v2")),
        "Aborted",
    ),
    (
        "new-spec-supersedes-the-canary",
        parse_spec({**RAW, "evaluation": {"metric": "f1_macro"}}),
        status(canary(1, 20)),
        world(),
        NOW,
        ("Training", None, None),
        (CreateTrainingJob, point_service_at("v1"), *remove("v2")),
        None,
    ),
    (
        "mesh-route-moves-to-the-status-weight",
        MESH,
        status(canary(1, 20)),
        world(canary_pods=2, mesh=True, route_weights=Weights.STABLE_ONLY),
        NOW,
        ("Canary", 1, 20),
        (set_weights(20),),
        None,
    ),
    (
        "mesh-route-in-place-is-quiet",
        MESH,
        status(canary(1, 20)),
        world(canary_pods=2, mesh=True, route_weights=Weights.canary_at(20)),
        NOW,
        ("Canary", 1, 20),
        (),
        None,
    ),
    (
        "mesh-promotion-waits-for-the-route",
        MESH,
        status(canary(4, 50)),
        world(canary_pods=2, mesh=True, route_weights=Weights.canary_at(50)),
        NOW,
        ("Canary", 4, 100),
        (set_weights(100),),
        None,
    ),
    (
        "mesh-promotion-finalizes-before-deleting",
        MESH,
        status(canary(4, 100)),
        world(canary_pods=2, mesh=True, route_weights=Weights.CANARY_ONLY),
        NOW,
        ("Serving", None, None),
        (point_service_at("v2"), finalize(promoted=True), *remove("v1")),
        "Promoted",
    ),
    (
        "mesh-abort-finalizes-before-deleting",
        MESH,
        status(canary(1, 20)),
        world(
            canary_pods=2,
            mesh=True,
            route_weights=Weights.canary_at(20),
            annotations={names.ANNOTATION_ABORT: "a"},
        ),
        NOW,
        ("RolledBack", 1, 0),
        (finalize(promoted=False), *remove("v2")),
        "Aborted",
    ),
    (
        "mesh-unreadable-route-holds",
        MESH,
        status(canary(0)),
        world(canary_pods=2, mesh=True, route_problem="HTTPRoute ml/iris not found"),
        NOW,
        ("Canary", 0, 0),
        (),
        None,
    ),
]


@pytest.mark.parametrize(
    ("spec", "before", "w", "now", "expected", "kinds", "health"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_canary_tick(spec, before, w, now, expected, kinds, health):
    result = plan(spec, before, w, now)
    s = result.status
    phase, step, weight = expected
    assert s.phase == phase
    assert allowed(before.phase, s.phase)
    if step is None:
        assert s.canary is None or s.candidate is None or s.candidate.state != "Canary"
    else:
        assert (s.canary.step_index, s.canary.weight) == (step, weight)
    assert_actions(result.actions, kinds)
    healthy = s.condition("CanaryHealthy")
    if health is None:
        assert healthy is None or healthy == before.condition("CanaryHealthy")
    else:
        assert healthy is not None and healthy.reason == health


@pytest.mark.parametrize(
    ("spec", "before", "w", "now", "expected", "kinds", "health"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_canary_replan_after_a_restart_is_the_same_plan(
    spec, before, w, now, expected, kinds, health
):
    """Restart at each step: plan() has no memory but status, so the same input re-plans the
    same output (the actions are idempotent, so applying them twice is harmless)."""
    assert plan(spec, before, w, now) == plan(spec, before, w, now)


def test_weights_move_to_the_mesh_route_with_the_split_and_targets():
    result = plan(
        MESH,
        status(canary(1, 20)),
        world(canary_pods=2, mesh=True, route_weights=Weights.STABLE_ONLY),
        NOW,
    )
    [action] = result.actions
    assert isinstance(action, SetWeights)
    assert (action.stable, action.canary) == (80, 20)
    assert (action.route.stable_revision, action.route.canary_revision) == ("v1", "v2")
    assert action.route.router.kind == "gatewayAPI"


def test_failing_measurement_is_in_the_condition_and_the_window():
    result = plan(
        SPEC,
        status(canary(1, 20, analysis=AnalysisStatus(failures=1))),
        world(analysis=window(SLOW)),
        NOW,
    )
    healthy = result.status.condition("CanaryHealthy")
    assert healthy.status == "False"
    assert "analysis failed 2/2: p99" in healthy.message and "> 250 ms" in healthy.message
    [w] = result.status.canary.analysis.windows
    assert w.verdict == "Failed" and w.canary_requests == 40 and w.canary_latency_p99_ms > 250
    assert result.status.condition("Ready") is not None
    assert result.status.candidate.state == "RolledBack"
    assert [e.reason for e in result.events] == ["RolledBack"]


def test_replicas_router_service_selects_both_versions_only_during_the_canary():
    during = plan(SPEC, status(canary(1, 20)), world(), NOW)
    assert during.actions == ()  # Service iris already selects both
    done = plan(SPEC, status(canary(4, 100)), world(canary_pods=2), NOW)
    assert point_service_at("v2") in done.actions


def test_replicas_router_reports_actual_weight_from_ready_pods():
    result = plan(SPEC, status(canary(0)), world(), NOW)
    c = result.status.canary
    assert (c.weight, c.actual_weight, c.stable_replicas, c.canary_replicas) == (20, 33, 2, 1)


def test_requeue_follows_the_pause_and_the_next_window():
    windowed = AnalysisStatus(last_window_at=NOW + timedelta(seconds=24))
    pausing = plan(
        SPEC, status(canary(1, 20, analysis=windowed)), world(), NOW + timedelta(seconds=25)
    )
    assert pausing.requeue_after == 5
    mid_window = status(canary(1, 20, analysis=AnalysisStatus(last_window_at=NOW)))
    assert plan(SPEC, mid_window, world(), NOW + timedelta(seconds=7)).requeue_after == 3


def test_replanning_a_pause_changes_nothing():
    """Level-triggered: after a tick's status is written, the next tick plans nothing new."""
    first = plan(SPEC, status(canary(1, 20)), world(), NOW + timedelta(seconds=10))
    again = plan(SPEC, first.status, world(), NOW + timedelta(seconds=11))
    # Only the canary's clocks move (they add up the tick's gap; see rollout.canary: time).
    clocks = {"elapsed_seconds", "window_elapsed_seconds", "observed_at"}
    assert again.actions == ()
    assert again.status.canary.model_dump(exclude=clocks) == first.status.canary.model_dump(
        exclude=clocks
    )
    assert again.status.model_dump(exclude={"canary"}) == first.status.model_dump(
        exclude={"canary"}
    )
    assert first.status.canary.message == "pausing until 12:00:30Z"


@pytest.mark.parametrize(
    ("readings", "advances_at"),
    [
        # Clock readings (seconds after NOW) of successive ticks during the 30 s pause, and
        # the index of the tick that ends it (None: it must not end).
        pytest.param([0, 10, 20, 30], 3, id="steady-ticks-end-the-pause-at-30s"),
        pytest.param([0, 5, 3605, 3610], None, id="forward-jump-never-ends-it-early"),
        pytest.param([0, 5, 3605, 3610, 3615, 3620], 5, id="forward-jump-counts-one-gap"),
        pytest.param([0, 10, 20, -3580, -3570], 4, id="backward-jump-stalls-at-most-a-tick"),
        pytest.param([0, 10, 20, 25, 24, 30], 5, id="small-backward-step-is-no-gap"),
        pytest.param(
            [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30],
            15,
            id="frequent-ticks-add-up-exactly",
        ),
    ],
)
def test_a_pause_is_timed_by_bounded_tick_gaps(readings: list[int], advances_at: int | None):
    passed = AnalysisStatus(windows=[passed_window(NOW + timedelta(days=1))], last_window_at=NOW)
    current = status(canary(1, 20, analysis=passed, observed_at=NOW))
    ended = None
    for i, offset in enumerate(readings):
        result = plan(SPEC, current, world(), NOW + timedelta(seconds=offset))
        current = result.status
        if current.canary.step_index == 2 and ended is None:
            ended = i
    assert ended == advances_at


def test_an_analysis_window_is_due_after_a_forward_jump_of_at_most_one_gap():
    from modelpilot.operator.rollout.canary import seconds_until_analysis_window

    c = canary(2, 50, observed_at=NOW, analysis=AnalysisStatus(last_window_at=NOW))
    assert seconds_until_analysis_window(SPEC, status(c), NOW + timedelta(seconds=4)) == 6
    # An hour's jump counts as one bounded gap (10 s): due, but not ten minutes overdue.
    assert seconds_until_analysis_window(SPEC, status(c), NOW + timedelta(hours=1)) == 0
    # A backward jump adds nothing: the interval is still to come, not an hour away.
    assert seconds_until_analysis_window(SPEC, status(c), NOW - timedelta(hours=1)) == 10


def test_waiting_for_canary_pods_says_why_they_are_not_ready():
    # e.g. an S3 store's fetch-bundle refusing a tampered bundle: the person sees it in status
    problem = "pod iris-v2-x: CrashLoopBackOff: fetch-bundle: ... refusing to load it"
    deployments = {
        "v1": dep("v1", 2),
        "v2": dataclasses.replace(dep("v2", 1, ready=0), pod_problem=problem),
    }
    result = plan(SPEC, status(canary(0)), world(deployments=deployments), NOW)
    assert result.status.canary.weight == 0
    assert result.status.canary.message == f"waiting for 1 Ready canary pods before 20%: {problem}"


@pytest.mark.parametrize(
    ("spec", "before", "w", "now"), [pytest.param(*c[1:5], id=c[0]) for c in CASES]
)
def test_applying_the_plan_then_replanning_converges(spec, before, w, now):
    assert_converges(spec, before, w, now)


# Rows whose applied actions let the next tick at the same instant make progress.
PROGRESS_AFTER_APPLY = {"mesh-promotion-waits-for-the-route"}


@pytest.mark.parametrize(
    ("spec", "before", "w", "now"), [pytest.param(*c[1:5], id=c[0]) for c in CASES]
)
def test_most_rows_are_done_after_one_tick(spec, before, w, now, request):
    actions = second_tick_actions(spec, before, w, now)
    if request.node.callspec.id in PROGRESS_AFTER_APPLY:
        assert actions, "this row's actions unlock the next step"
    else:
        assert actions == ()
