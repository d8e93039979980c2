"""spec.serving.pinRevision, tick by tick: an earlier revision serves again by its digest
from status.history, through the canary's steps when there are any, and nothing trains while
the pin is set. Pure: plan() against hand-built worlds, each transition checked against the
phases table by plan() itself.
"""

from __future__ import annotations

from datetime import timedelta

from builders import DIGEST, NOW, ready_deployment, spec_dict

from modelpilot.api import names
from modelpilot.api.spec import parse_spec
from modelpilot.api.status import (
    HISTORY_LIMIT,
    CandidateState,
    CandidateStatus,
    HistoryEntry,
    ModelDeploymentStatus,
    StableStatus,
    Trigger,
)
from modelpilot.operator.rollout import ObservedService, World, plan
from modelpilot.operator.rollout.actions import (
    CreateTrainingJob,
    DeleteDeployment,
    EnsureServingDeployment,
)
from modelpilot.operator.rollout.draft import with_history
from modelpilot.operator.rollout.triggers import spec_hash

RAW = spec_dict()
SPEC = parse_spec(RAW)
HASH = spec_hash(SPEC)


def pinned(revision: str | None, **extra) -> object:
    serving = {} if revision is None else {"pinRevision": revision}
    return parse_spec({**RAW, "serving": serving, **extra})


def entry(rev: str, outcome: str = "Promoted", sha: str | None = None) -> HistoryEntry:
    return HistoryEntry(
        revision=rev,
        outcome=outcome,
        trigger=Trigger.RETRAIN_REQUESTED,
        metric="accuracy",
        score=0.9,
        stable_score=0.88,
        model_sha256=sha or DIGEST[rev],
        spec_hash=HASH,
    )


def stable(rev: str) -> StableStatus:
    return StableStatus(
        revision=rev,
        model_sha256=DIGEST[rev],
        metric="accuracy",
        score=0.9,
        deployment=f"iris-{rev}",
        service="iris",
        spec_hash=HASH,
    )


V2_SERVES = ModelDeploymentStatus(
    phase="Serving",
    revision_counter=2,
    last_spec_hash=HASH,
    last_revision_started_at=NOW,
    stable=stable("v2"),
    history=[entry("v2"), entry("v1")],
)


def serving(*revs: str, replicas: int = 1, spec=SPEC) -> dict:
    """A world where each revision's Deployment is what plan() would create, all Ready."""
    deployments = {}
    for rev in revs:
        ip = f"10.0.0.{len(deployments) + 1}"
        deployments[rev] = ready_deployment(rev, replicas=replicas, pod_ips=(ip,))
    sel = {names.LABEL_MODEL: "iris", names.LABEL_COMPONENT: "serving"}
    services = {
        f"iris-{rev}": ObservedService(f"iris-{rev}", {**sel, names.LABEL_REVISION: rev})
        for rev in revs
    }
    services["iris"] = ObservedService("iris", {**sel, names.LABEL_REVISION: revs[0]})
    return {"deployments": deployments, "services": services}


def world(annotations=None, **kw) -> World:
    return World(name="iris", namespace="ml", generation=2, annotations=annotations or {}, **kw)


def kinds(p) -> list[str]:
    return [type(a).__name__ for a in p.actions]


def test_pin_serves_the_earlier_revision_by_its_recorded_digest_without_a_job():
    spec = pinned("v1")
    first = plan(spec, V2_SERVES, world(**serving("v2")), NOW)
    assert first.status.phase == "Deploying"
    c = first.status.candidate
    assert (c.revision, c.trigger, c.model_sha256) == ("v1", Trigger.PINNED, DIGEST["v1"])
    assert not any(isinstance(a, CreateTrainingJob) for a in first.actions)
    wanted = [a for a in first.actions if isinstance(a, EnsureServingDeployment)]
    assert [(a.revision, a.model_sha256) for a in wanted] == [("v1", DIGEST["v1"])]
    assert [e.reason for e in first.events] == ["PinApplied"]
    assert first.status.revision_counter == 2  # no new revision number is handed out

    # v1's pods are Ready: it becomes stable, v2's Deployment goes.
    second = plan(spec, first.status, world(**serving("v2", "v1")), NOW + timedelta(seconds=5))
    assert second.status.phase == "Serving"
    assert second.status.stable.revision == "v1"
    assert second.status.stable.model_sha256 == DIGEST["v1"]
    assert second.status.stable.trigger is Trigger.PINNED
    top = second.status.history[0]
    assert (top.revision, top.outcome, top.model_sha256) == ("v1", "Promoted", DIGEST["v1"])
    assert (top.score, top.stable_score, top.spec_hash) == (0.9, 0.88, HASH)
    assert {h.revision for h in second.status.history} == {"v1", "v2"}  # v2 stays pinnable
    assert [a.name for a in second.actions if isinstance(a, DeleteDeployment)] == ["iris-v2"]

    # Settled: replanning against the world the actions made changes nothing.
    settled = serving("v1")
    third = plan(spec, second.status, world(**settled), NOW + timedelta(seconds=10))
    assert third.actions == ()
    assert third.status.phase == "Serving"


def test_nothing_trains_while_pinned_and_removing_the_pin_resumes():
    spec = pinned("v2")  # the stable one: nothing to deploy
    asked = {names.ANNOTATION_RETRAIN: "2026-01-01T12:00:00Z"}
    changed = pinned("v2", evaluation={"metric": "accuracy", "threshold": 0.5})
    for s in (spec, changed):
        p = plan(s, V2_SERVES, world(annotations=asked, **serving("v2")), NOW)
        assert p.actions == ()
        assert p.status.phase == "Serving"
        assert p.status.candidate is None
        assert p.status.last_retrain_request is None  # waits, not swallowed

    unpinned = plan(pinned(None), V2_SERVES, world(annotations=asked, **serving("v2")), NOW)
    assert unpinned.status.candidate.trigger is Trigger.RETRAIN_REQUESTED
    assert "CreateTrainingJob" in kinds(unpinned)


def test_a_pin_supersedes_the_revision_in_flight():
    training = V2_SERVES.model_copy(
        update={
            "phase": "Training",
            "revision_counter": 3,
            "candidate": CandidateStatus(
                revision="v3",
                state="Training",
                trigger="RetrainRequested",
                spec_hash=HASH,
                job="iris-train-v3",
                started_at=NOW,
            ),
        }
    )
    p = plan(pinned("v1"), training, world(**serving("v2")), NOW)
    assert p.status.candidate.revision == "v1"
    assert p.status.history[0].revision == "v3"
    assert p.status.history[0].outcome is CandidateState.SUPERSEDED
    assert {e.reason for e in p.events} == {"Superseded", "PinApplied"}


def test_a_pin_goes_through_the_canary_steps():
    raw_rollout = {"steps": [{"setWeight": 50}, {"pause": {}}]}
    spec = pinned("v1", rollout=raw_rollout)
    p = plan(spec, V2_SERVES, world(**serving("v2")), NOW)
    assert p.status.phase == "Canary"
    assert p.status.canary.revision == "v1"
    assert p.status.candidate.model_sha256 == DIGEST["v1"]
    assert not any(isinstance(a, CreateTrainingJob) for a in p.actions)


def test_an_unknown_pin_stalls_and_stable_keeps_serving():
    p = plan(pinned("v7"), V2_SERVES, world(**serving("v2")), NOW)
    assert p.status.phase == "Failed"
    stalled = p.status.condition("Stalled")
    assert (stalled.status, stalled.reason) == ("True", "PinUnknown")
    assert "v7" in stalled.message and "v2, v1" in stalled.message
    assert p.status.stable.revision == "v2"
    assert not any(isinstance(a, DeleteDeployment) for a in p.actions)


def test_a_pinned_revision_that_was_rolled_back_is_not_retried_until_the_pin_changes():
    gave_up = V2_SERVES.model_copy(
        update={
            "phase": "RolledBack",
            "candidate": CandidateStatus(
                revision="v1",
                state="RolledBack",
                trigger="Pinned",
                spec_hash=HASH,
                job="iris-train-v1",
                started_at=NOW,
                model_sha256=DIGEST["v1"],
            ),
        }
    )
    p = plan(pinned("v1"), gave_up, world(**serving("v2")), NOW)
    assert p.status.phase == "RolledBack"
    assert p.status.candidate.state is CandidateState.ROLLED_BACK
    assert p.actions == ()


def test_history_is_bounded_but_keeps_the_stable_entry():
    status = V2_SERVES.model_copy(
        update={
            "stable": stable("v1"),
            "history": [entry(f"v{n}", "Rejected", sha="d" * 64) for n in range(20, 11, -1)]
            + [entry("v1")],
        }
    )
    newest = CandidateStatus(
        revision="v21",
        state="Rejected",
        trigger="RetrainRequested",
        spec_hash=HASH,
        job="iris-train-v21",
        started_at=NOW,
    )
    history = with_history(status, newest, CandidateState.REJECTED)
    assert len(history) == HISTORY_LIMIT
    assert history[0].revision == "v21"
    assert history[-1].revision == "v1"  # the stable's entry outlives older rejected ones
