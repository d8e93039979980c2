"""Webhook gates (spec.rollout.webhooks), in Flagger's spirit: the decision, pure.

Two points of a canary can be gated:

- pre-rollout: before the first step. The canary's pods come up, but no weight moves until
  every pre-rollout webhook answers 2xx.
- confirm-promotion: after the last step, before the route carries 100 % to the canary.
  The canary holds at its last weight (its analysis windows go on, and may still roll it
  back) until every confirm-promotion webhook answers 2xx.

A gate is asked until it passes, and passes once per canary (status.canary.gatesPassed): a
webhook that says no later changes nothing. `modelpilot promote` is a person's decision and
passes the gate it meets; `modelpilot abort` always wins.

The calls themselves happen outside plan() (modelpilot.operator.gates, on threads of their
own with a bounded timeout); plan() sees their latest answers in World.gate_answers and only
decides here. `pending_gate` is shared with that I/O edge so both agree on when to ask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from modelpilot.api.spec import ModelDeploymentSpec, RolloutWebhook, WebhookType
from modelpilot.api.status import GateStatus, ModelDeploymentStatus
from modelpilot.operator.rollout import canary as canary_math
from modelpilot.operator.rollout.steps import canary_steps
from modelpilot.operator.rollout.world import GateAnswer

# While a gate holds, look again this soon (the I/O edge asks the webhook again no more often
# than GATE_RECHECK_SECONDS; its answer wakes the ModelDeployment at once).
GATE_RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class GateDecision:
    open: bool  # every webhook of the type answered 2xx (or there is none)
    message: str  # the answers, URL by URL, or why it waits


def pending_gate(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> WebhookType | None:
    """The gate the live canary stands at and has not passed, or None.

    pre-rollout at step 0 before any weight moved; confirm-promotion once every step is done.
    """
    if not canary_math.canary_is_live(status):
        return None
    canary = status.canary
    assert canary is not None
    if canary.step_index == 0 and canary.weight == 0:
        wanted = WebhookType.PRE_ROLLOUT
    elif canary.step_index >= len(canary_steps(spec)):
        wanted = WebhookType.CONFIRM_PROMOTION
    else:
        return None
    if wanted.value in canary.gates_passed or not hooks_of(spec, wanted):
        return None
    return wanted


def hooks_of(spec: ModelDeploymentSpec, kind: WebhookType) -> tuple[RolloutWebhook, ...]:
    return tuple(w for w in spec.rollout.webhooks if w.type is kind)


def decide(
    kind: WebhookType,
    hooks: Sequence[RolloutWebhook],
    answers: Mapping[str, GateAnswer],
) -> GateDecision:
    """Open when every webhook of `kind` answered 2xx; `answers` are by URL.

    A webhook not asked yet holds the gate ("waiting"), as does any non-2xx answer; the
    message names every URL that holds it, so a person knows whom to ask.
    """
    if not hooks:
        return GateDecision(True, f"no {kind} webhooks")
    holding, passed = [], []
    for hook in hooks:
        answer = answers.get(hook.url)
        if answer is None:
            holding.append(f"{hook.url}: waiting for its answer")
        elif not answer.ok:
            holding.append(f"{hook.url}: {answer.detail}")
        else:
            passed.append(f"{hook.url}: {answer.detail}")
    if holding:
        return GateDecision(False, f"{kind} gate held by " + "; ".join(holding))
    return GateDecision(True, f"{kind} gate passed (" + "; ".join(passed) + ")")


def gate_status(
    kind: WebhookType, decision: GateDecision, before: GateStatus | None, now: datetime
) -> GateStatus:
    """status.canary.gate for this decision; `since` moves only when the state changes."""
    state = "Passed" if decision.open else "Held"
    same = before is not None and before.type == kind.value and before.state == state
    since = before.since if same and before is not None else now
    return GateStatus.model_validate(
        {"type": kind.value, "state": state, "message": decision.message, "since": since}
    )
