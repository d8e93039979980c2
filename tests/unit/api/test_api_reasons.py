"""The typed vocabulary of conditions and Events (modelpilot.api.reasons)."""

from __future__ import annotations

from enum import StrEnum

import pytest

from modelpilot.api.gate import GateVerdict
from modelpilot.api.reasons import ConditionReason, ConditionType, EventReason
from modelpilot.api.status import Condition, FailureReason


@pytest.mark.parametrize(
    "vocabulary", [ConditionType, ConditionReason, EventReason, FailureReason, GateVerdict]
)
def test_every_word_is_its_own_member(vocabulary: type[StrEnum]):
    # Two members with one value would make the second a silent alias of the first.
    assert len(vocabulary.__members__) == len(list(vocabulary))


@pytest.mark.parametrize(
    ("member", "wire"),
    [
        (ConditionType.CANARY_HEALTHY, "CanaryHealthy"),
        (ConditionReason.STABLE_SERVICE_UNAVAILABLE, "StableServiceUnavailable"),
        (ConditionReason.NOT_OWNED, "NotOwned"),
        (ConditionReason.MODEL_STORE_NOT_FOUND, "ModelStoreNotFound"),
        (EventReason.ROLLOUT_CHANGE_DEFERRED, "RolloutChangeDeferred"),
    ],
)
def test_a_member_is_the_word_on_the_wire(member: StrEnum, wire: str):
    assert member == wire and f"{member}" == wire


def test_a_condition_type_is_one_of_the_vocabulary():
    raw = {"type": "Ready", "status": "True", "reason": "Serving"}
    condition = Condition.model_validate({**raw, "lastTransitionTime": "2026-01-01T00:00:00Z"})
    assert condition.type is ConditionType.READY
    assert condition.model_dump(mode="json", by_alias=True)["type"] == "Ready"
