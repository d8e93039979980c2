"""plan() transition by transition: (spec, status, world) in, (phase, actions) out.

Each row names its scenario; every row's transition is also checked against the table in
modelpilot.operator.rollout.phases (plan() itself refuses an edge that is not there).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import (
    NOW,
    candidate,
    ready_deployment,
    spec_dict,
    status,
    training_summary,
    world,
)
from convergence import assert_converges, second_tick_actions
from expected_actions import assert_actions

from modelpilot.api import names
from modelpilot.api.spec import parse_spec
from modelpilot.api.status import (
    CandidateState,
    ModelDeploymentStatus,
    Phase,
    StableStatus,
)
from modelpilot.operator.rollout import (
    TRANSITIONS,
    InvalidSpec,
    ObservedDeployment,
    ObservedJob,
    ObservedService,
    plan,
)
from modelpilot.operator.rollout.actions import (
    CreateTrainingJob,
    DeleteDeployment,
    DeleteJob,
    DeleteService,
    EnsureService,
    EnsureServingDeployment,
)
from modelpilot.operator.rollout.draft import with_history
from modelpilot.operator.rollout.phases import allowed
from modelpilot.operator.rollout.triggers import spec_hash

RAW = spec_dict()
SPEC = parse_spec(RAW)
OTHER = parse_spec({**RAW, "evaluation": {"metric": "f1_macro"}})
HASH = spec_hash(SPEC)
SEL_V1 = {names.LABEL_MODEL: "iris", names.LABEL_COMPONENT: "serving", names.LABEL_REVISION: "v1"}
SEL_V2 = {**SEL_V1, names.LABEL_REVISION: "v2"}


STABLE = StableStatus(
    revision="v1",
    model_sha256="a" * 64,
    metric="accuracy",
    score=0.9,
    deployment="iris-v1",
    service="iris",
    spec_hash=HASH,
)


def deployment(rev="v1", ready=1, **kw) -> ObservedDeployment:
    return ready_deployment(rev, ready_replicas=ready, **kw)


SERVING_V1 = {
    "deployments": {"v1": deployment("v1")},
    "services": {
        "iris": ObservedService("iris", SEL_V1),
        "iris-v1": ObservedService("iris-v1", SEL_V1),
    },
}


def done(rev="v1", score=0.95, stable=None, sha="a") -> ObservedJob:
    return ObservedJob(
        name=f"iris-train-{rev}",
        revision=rev,
        succeeded=True,
        summary=training_summary(rev, score, stable, sha, holdout=None),
    )


CASES = [
    # id, spec, status, world kwargs, expected phase, expected actions (by value)
    ("new-object-starts-v1", SPEC, ModelDeploymentStatus(), {}, "Training", (CreateTrainingJob,)),
    (
        "training-waits-for-its-job",
        SPEC,
        status("Training", candidate=candidate()),
        {"jobs": {"v1": ObservedJob("iris-train-v1", "v1")}},
        "Training",
        (),
    ),
    (
        "restart-before-job-creation-creates-it",
        SPEC,
        status("Training", candidate=candidate()),
        {},
        "Training",
        (CreateTrainingJob,),
    ),
    (
        "passed-gate-deploys",
        SPEC,
        status("Training", candidate=candidate()),
        {"jobs": {"v1": done()}},
        "Deploying",
        (EnsureServingDeployment, EnsureService("iris-v1", "iris", SEL_V1, "v1")),
    ),
    (
        "below-threshold-is-rejected",
        SPEC,
        status("Training", candidate=candidate()),
        {"jobs": {"v1": done(score=0.5)}},
        "Rejected",
        (),
    ),
    (
        "failed-job-fails",
        SPEC,
        status("Training", candidate=candidate()),
        {
            "jobs": {
                "v1": ObservedJob(
                    "iris-train-v1", "v1", failed=True, failure_reason="BackoffLimitExceeded"
                )
            }
        },
        "Failed",
        (),
    ),
    (
        "deploying-waits-for-ready-pods",
        SPEC,
        status(
            "Deploying",
            candidate=candidate(state="Deploying", model_sha256="a" * 64, deployment="iris-v1"),
        ),
        {
            "deployments": {"v1": deployment(ready=0)},
            "services": {"iris-v1": ObservedService("iris-v1", SEL_V1)},
        },
        "Deploying",
        (),
    ),
    (
        "ready-pods-promote",
        SPEC,
        status(
            "Deploying",
            candidate=candidate(state="Deploying", model_sha256="a" * 64, deployment="iris-v1"),
        ),
        {
            "deployments": {"v1": deployment()},
            "services": {"iris-v1": ObservedService("iris-v1", SEL_V1)},
        },
        "Serving",
        (EnsureService("iris", "iris", SEL_V1),),
    ),
    ("serving-is-quiet", SPEC, status("Serving", stable=STABLE), SERVING_V1, "Serving", []),
    (
        "spec-change-starts-v2-against-stable",
        OTHER,
        status("Serving", stable=STABLE),
        SERVING_V1,
        "Training",
        (CreateTrainingJob,),
    ),
    (
        "retrain-annotation-starts-v2",
        SPEC,
        status("Serving", stable=STABLE),
        {**SERVING_V1, "annotations": {names.ANNOTATION_RETRAIN: "now"}},
        "Training",
        (CreateTrainingJob,),
    ),
    (
        "handled-retrain-annotation-is-quiet",
        SPEC,
        status("Serving", stable=STABLE, last_retrain_request="now"),
        {**SERVING_V1, "annotations": {names.ANNOTATION_RETRAIN: "now"}},
        "Serving",
        (),
    ),
    (
        "invalid-spec-acts-on-nothing",
        InvalidSpec("spec.x: bad"),
        status("Serving", stable=STABLE),
        SERVING_V1,
        "Failed",
        (),
    ),
    (
        "refused-estimator-starts-nothing",
        parse_spec({**RAW, "training": {**RAW["training"], "estimator": "evil.Estimator"}}),
        status("Serving", stable=STABLE),
        SERVING_V1,
        "Failed",
        (),
    ),
    (
        "new-spec-supersedes-training",
        OTHER,
        status("Training", candidate=candidate()),
        {"jobs": {"v1": ObservedJob("iris-train-v1", "v1")}},
        "Training",
        (CreateTrainingJob, DeleteJob("iris-train-v1", "v1 is no longer a candidate")),
    ),
    (
        "new-spec-supersedes-deploying",
        OTHER,
        status(
            "Deploying",
            stable=STABLE,
            revision_counter=2,
            candidate=candidate(
                "v2", state="Deploying", model_sha256="b" * 64, deployment="iris-v2"
            ),
        ),
        {
            **SERVING_V1,
            "deployments": {"v1": deployment("v1"), "v2": deployment("v2", ready=0)},
            "services": {**SERVING_V1["services"], "iris-v2": ObservedService("iris-v2", SEL_V2)},
        },
        "Training",
        (
            CreateTrainingJob,
            DeleteDeployment("iris-v2", "v2 neither serves nor is a candidate"),
            DeleteService("iris-v2", "no revision behind it"),
        ),
    ),
    (
        "orphans-are-swept",
        SPEC,
        status("Serving", stable=STABLE),
        {
            **SERVING_V1,
            "deployments": {
                "v1": deployment("v1"),
                "v0": ObservedDeployment("iris-v0", "v0", replicas=1),
            },
        },
        "Serving",
        (DeleteDeployment("iris-v0", "v0 neither serves nor is a candidate"),),
    ),
    (
        "rejected-after-failure-recovers-phase",
        SPEC,
        status(
            "Failed",
            stable=STABLE,
            candidate=candidate("v1", state="Rejected", verdict="BelowThreshold"),
        ),
        SERVING_V1,
        "Rejected",
        (),
    ),
]


@pytest.mark.parametrize(
    ("spec", "before", "world_kw", "phase", "kinds"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_plan_transition(spec, before, world_kw, phase, kinds):
    result = plan(spec, before, world(**world_kw), NOW)
    assert result.status.phase == phase
    assert_actions(result.actions, kinds)
    assert allowed(before.phase, result.status.phase)
    assert result.status.observed_generation == 1


@pytest.mark.parametrize(
    ("spec", "before", "world_kw", "phase", "kinds"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_plan_is_pure_and_deterministic(spec, before, world_kw, phase, kinds):
    assert plan(spec, before, world(**world_kw), NOW) == plan(spec, before, world(**world_kw), NOW)


def test_every_phase_has_a_row_in_the_table():
    assert set(TRANSITIONS) == set(Phase)


def test_started_revision_persists_counter_and_trigger_memory():
    result = plan(
        OTHER, status("Serving", stable=STABLE, revision_counter=4), world(**SERVING_V1), NOW
    )
    s = result.status
    assert (s.revision_counter, s.candidate.revision, s.candidate.job) == (5, "v5", "iris-train-v5")
    assert s.last_spec_hash == spec_hash(OTHER) and s.last_revision_started_at == NOW
    [job] = result.actions
    assert job.stable_revision == "v1" and job.stable_sha256 == "a" * 64
    assert [e.reason for e in result.events] == ["RevisionStarted"]


def test_a_revision_remembers_its_estimator_and_params_into_history():
    # `modelpilot diff vN vM` compares what each revision was trained with (issue 24 §2).
    started = plan(OTHER, status("Serving", stable=STABLE), world(**SERVING_V1), NOW).status
    candidate = started.candidate
    assert candidate.estimator == OTHER.training.estimator
    assert candidate.params == OTHER.training.params
    [entry] = with_history(started, candidate, CandidateState.REJECTED)[:1]
    assert (entry.estimator, entry.params) == (candidate.estimator, candidate.params)


def test_condition_times_move_only_when_status_changes():
    first = plan(SPEC, status("Serving", stable=STABLE), world(**SERVING_V1), NOW).status
    later = plan(SPEC, first, world(**SERVING_V1), NOW + timedelta(hours=1)).status
    assert later == first


def test_schedule_requeues_until_it_fires():
    spec = parse_spec({**RAW, "training": {**RAW["training"], "schedule": "30 12 * * *"}})
    h = spec_hash(spec)
    result = plan(
        spec, status("Serving", stable=STABLE, last_spec_hash=h), world(**SERVING_V1), NOW
    )
    assert result.actions == () and result.requeue_after == 30 * 60
    fired = plan(spec, result.status, world(**SERVING_V1), NOW + timedelta(minutes=31))
    assert fired.status.candidate.trigger == "Scheduled"


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        pytest.param(
            ObservedJob("iris-train-v1", "v1", failed=True, failure_reason="BackoffLimitExceeded"),
            "TrainingFailed",
            id="backoff-limit",
        ),
        pytest.param(
            ObservedJob("iris-train-v1", "v1", failed=True, failure_reason="DeadlineExceeded"),
            "TrainingTimedOut",
            id="deadline",
        ),
    ],
)
def test_a_failure_carries_its_reason_as_a_typed_field(job, reason):
    out = plan(SPEC, status("Training", candidate=candidate()), world(jobs={"v1": job}), NOW)
    c = out.status.candidate
    assert c.failure_reason == reason
    # The message people read is unchanged; the conditions take the reason from the field.
    assert c.message.startswith(f"{reason}: ")
    stalled = out.status.condition("Stalled")
    assert (stalled.status, stalled.reason) == ("True", reason)
    assert stalled.message.startswith("v1 failed: ") and f"{reason}:" not in stalled.message
    trained = out.status.condition("Trained")
    assert (trained.status, trained.reason) == ("False", reason)


def test_an_old_status_without_a_failure_reason_still_reads():
    # Written by an operator before failureReason existed: the reason is generic, never parsed.
    old = candidate(state="Failed", message="TrainingFailed: boom", finished_at=NOW)
    out = plan(SPEC, status("Failed", candidate=old), world(), NOW)
    assert out.status.condition("Stalled").reason == "Failed"


@pytest.mark.parametrize(
    ("spec", "before", "world_kw"), [pytest.param(*c[1:4], id=c[0]) for c in CASES]
)
def test_applying_the_plan_then_replanning_converges(spec, before, world_kw):
    assert_converges(spec, before, world(**world_kw), NOW)


@pytest.mark.parametrize(
    ("spec", "before", "world_kw"), [pytest.param(*c[1:4], id=c[0]) for c in CASES]
)
def test_every_row_is_done_after_one_tick(spec, before, world_kw):
    assert second_tick_actions(spec, before, world(**world_kw), NOW) == ()
