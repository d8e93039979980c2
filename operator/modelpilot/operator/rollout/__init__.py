"""The rollout state machine: pure decisions, no I/O.

`plan(spec, status, world, now)` reads the desired spec, the status (the only memory), and a
frozen snapshot of the owned objects, and returns a `Plan`: the actions to take, the new
status, the Events to post and when to look again. It imports neither kopf nor kubernetes
(an import-linter contract checks this), reads no clock and logs nothing, so every
transition is a table-driven unit test.

Modules: `plan` (one tick, top to bottom), `canary_steps` / `canary_analysis` (a canary's
steps and its analysis windows), `steps` (the SetWeight | Pause union), `traffic` (one
strategy per traffic router: the only place that knows how a router splits), `settle` (phase
and conditions), `conditions`, `draft` (the plan being built and its verbs), `actions`,
`world` (the observed snapshot), `phases` (the transitions table).
"""

from modelpilot.operator.rollout.actions import Action
from modelpilot.operator.rollout.phases import TRANSITIONS, check_transition
from modelpilot.operator.rollout.plan import Event, InvalidSpec, Plan, plan
from modelpilot.operator.rollout.world import (
    ObservedDeployment,
    ObservedJob,
    ObservedService,
    World,
)

__all__ = [
    "TRANSITIONS",
    "Action",
    "Event",
    "InvalidSpec",
    "ObservedDeployment",
    "ObservedJob",
    "ObservedService",
    "Plan",
    "World",
    "check_transition",
    "plan",
]
