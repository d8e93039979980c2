"""Level-triggered and idempotent, for every scenario row of both plan tables.

Apply the plan's actions to the in-memory cluster (world_cluster), observe again and plan
again at the same instant: within a few ticks the plan has no actions left, and no tick asks
again for an action an earlier tick already applied (nothing is undone, nothing repeated).
Most rows are done after one tick; a few make further progress that the applied actions
unlocked (a route now at 100 % lets the promotion happen), and then settle.
"""

from __future__ import annotations

import pytest
import test_operator_canary_plan as canary_rows
import test_operator_plan as plan_rows
from world_cluster import apply_to_world

from modelpilot.operator.rollout import plan

MAX_TICKS = 3


def _rows():
    for c in plan_rows.CASES:
        spec, before, world_kw = c[1], c[2], c[3]
        yield pytest.param(spec, before, plan_rows.world(**world_kw), plan_rows.NOW, id=c[0])
    for c in canary_rows.CASES:
        spec, before, world, now = c[1], c[2], c[3], c[4]
        yield pytest.param(spec, before, world, now, id=f"canary-{c[0]}")


@pytest.mark.parametrize(("spec", "status", "world", "now"), list(_rows()))
def test_applying_the_plan_then_replanning_converges(spec, status, world, now):
    applied = []
    for _ in range(MAX_TICKS):
        result = plan(spec, status, world, now)
        if not result.actions:
            return
        again = [a for a in result.actions if a in applied]
        assert not again, f"planned again after it was applied: {again}"
        applied += result.actions
        status, world = result.status, apply_to_world(world, result.actions)
    pytest.fail(f"still planning after {MAX_TICKS} ticks: {plan(spec, status, world, now).actions}")


@pytest.mark.parametrize(("spec", "status", "world", "now"), list(_rows()))
def test_most_rows_are_done_after_one_tick(spec, status, world, now, request):
    first = plan(spec, status, world, now)
    second = plan(spec, first.status, apply_to_world(world, first.actions), now)
    if request.node.callspec.id in PROGRESS_AFTER_APPLY:
        assert second.actions, "this row's actions unlock the next step"
    else:
        assert second.actions == ()


# Rows whose applied actions let the next tick at the same instant make progress.
PROGRESS_AFTER_APPLY = {"canary-mesh-promotion-waits-for-the-route"}
