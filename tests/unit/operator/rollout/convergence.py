"""Level-triggered and idempotent, as checks any plan table's rows run through.

Apply the plan's actions to the in-memory cluster (world_cluster), observe again and plan
again at the same instant: within a few ticks the plan has no actions left, and no tick asks
again for an action an earlier tick already applied (nothing is undone, nothing repeated).
Most rows are done after one tick; a few make further progress that the applied actions
unlocked (a route now at 100 % lets the promotion happen), and then settle.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from world_cluster import apply_to_world

from modelpilot.operator.rollout import plan
from modelpilot.operator.rollout.actions import Action

MAX_TICKS = 3


def assert_converges(spec, status, world, now: datetime) -> None:
    applied: list[Action] = []
    for _ in range(MAX_TICKS):
        result = plan(spec, status, world, now)
        if not result.actions:
            return
        again = [a for a in result.actions if a in applied]
        assert not again, f"planned again after it was applied: {again}"
        applied += result.actions
        status, world = result.status, apply_to_world(world, result.actions)
    pytest.fail(f"still planning after {MAX_TICKS} ticks: {plan(spec, status, world, now).actions}")


def second_tick_actions(spec, status, world, now: datetime) -> tuple[Action, ...]:
    """What a second tick at the same instant plans once the first tick's actions applied."""
    first = plan(spec, status, world, now)
    return plan(spec, first.status, apply_to_world(world, first.actions), now).actions
