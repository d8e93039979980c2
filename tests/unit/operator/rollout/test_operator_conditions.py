"""Conditions read a failure's reason and detail from typed fields, never from its message."""

from __future__ import annotations

from builders import NOW, candidate, status, world

from modelpilot.api.reasons import ConditionReason, ConditionType
from modelpilot.api.status import CandidateState, FailureReason, ModelDeploymentStatus
from modelpilot.operator.rollout import conditions as cond
from modelpilot.operator.rollout.draft import Draft


def failed(**fields: object) -> ModelDeploymentStatus:
    return status("Failed", candidate=candidate("v1", "Failed", **fields))


def conditions(of: ModelDeploymentStatus) -> dict[ConditionType, tuple[str, str]]:
    out = cond.conditions_for(of, world(), problem=None, replicas=1, previous=[], now=NOW)
    return {c.type: (c.reason, c.message) for c in out}


def test_a_failure_records_its_reason_and_detail_apart():
    draft = Draft(world=world(), now=NOW, status=status("Training", candidate=candidate()))
    draft.conclude(CandidateState.FAILED, "disk full", reason=FailureReason.TRAINING_FAILED)
    concluded = draft.status.candidate
    assert concluded.message == "TrainingFailed: disk full"  # the words people always read
    assert (concluded.failure_reason, concluded.failure_detail) == ("TrainingFailed", "disk full")


def test_the_conditions_quote_the_detail_field_not_the_message():
    # A message that does not start with its reason: nothing is cut out of it.
    status = failed(
        message="the Job ran out of time",
        failure_reason=FailureReason.TRAINING_TIMED_OUT,
        failure_detail="activeDeadlineSeconds 600 passed",
    )
    out = conditions(status)
    stalled_reason, stalled = out[ConditionType.STALLED]
    assert stalled_reason == FailureReason.TRAINING_TIMED_OUT
    assert stalled.startswith("v1 failed: activeDeadlineSeconds 600 passed. Fix the spec")
    assert out[ConditionType.TRAINED] == (
        FailureReason.TRAINING_TIMED_OUT,
        "v1: activeDeadlineSeconds 600 passed",
    )


def test_a_failure_written_before_the_detail_field_quotes_its_whole_message():
    status = failed(message="TrainingFailed: disk full", failure_reason="TrainingFailed")
    assert conditions(status)[ConditionType.TRAINED] == (
        "TrainingFailed",
        "v1: TrainingFailed: disk full",
    )


def test_a_failure_of_an_old_version_without_a_reason_stalls_as_failed():
    reason, message = conditions(failed(message="boom"))[ConditionType.STALLED]
    assert (reason, message.split(". ")[0]) == (ConditionReason.FAILED, "v1 failed: boom")
