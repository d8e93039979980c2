"""The canary's steps as a tagged union: `SetWeight | Pause | HeaderRouteStep`, matched with
`match`.

spec.rollout.steps is wire format (one object, exactly one of setWeight or pause, checked by
the CRD); the rollout reads it once into these frozen values, so every use is a `match` the
type checker sees through instead of optional fields plus an assert. A later kind (an
analysis step, an experiment) is one more class here and one more `case` in
modelpilot.operator.rollout.canary_steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from modelpilot.api.duration import format_duration
from modelpilot.api.spec import ModelDeploymentSpec, SetHeaderRoute
from modelpilot.operator.routers.headers import HeaderMatch, HeaderRoute


@dataclass(frozen=True)
class SetWeight:
    """Move `weight` percent of the traffic to the canary (once its pods are Ready)."""

    weight: int


@dataclass(frozen=True)
class Pause:
    """Hold the current weight for `seconds`; None holds until `modelpilot promote`."""

    seconds: float | None


@dataclass(frozen=True)
class HeaderRouteStep:
    """Send requests with these headers to the canary (none: remove the route `name`)."""

    route: HeaderRoute


CanaryStep = SetWeight | Pause | HeaderRouteStep


def header_route(step: SetHeaderRoute) -> HeaderRoute:
    """A setHeaderRoute step as the routers take it."""
    matches = []
    for match in step.match:
        kind, value = match.header_value.kind_and_value
        matches.append(HeaderMatch(match.header_name, kind, value))
    return HeaderRoute(step.name, tuple(matches))


def canary_steps(spec: ModelDeploymentSpec) -> tuple[CanaryStep, ...]:
    """spec.rollout.steps as the union (the spec's validation guarantees exactly one kind)."""
    steps: list[CanaryStep] = []
    for step in spec.rollout.steps:
        if step.set_weight is not None:
            steps.append(SetWeight(step.set_weight))
        elif step.pause is not None:
            steps.append(Pause(step.pause.seconds))
        elif step.set_header_route is not None:
            steps.append(HeaderRouteStep(header_route(step.set_header_route)))
        else:  # pragma: no cover - the spec's validator refuses it
            raise ValueError("a step needs exactly one of setWeight or pause")
    return tuple(steps)


def step_at(steps: tuple[CanaryStep, ...], index: int) -> CanaryStep | None:
    """The step at `index`; None once every step is done (the canary is promoted)."""
    return steps[index] if index < len(steps) else None


def describe_step(steps: tuple[CanaryStep, ...], index: int) -> str:
    """ "2/4 pause 30s": the step in words, as `modelpilot status` and the condition show it."""
    position = f"{index + 1}/{len(steps)}"
    match step_at(steps, index):
        case None:
            return f"{len(steps)}/{len(steps)} done: promote"
        case SetWeight(weight=weight):
            return f"{position} setWeight {weight}"
        case Pause(seconds=seconds):
            if seconds is None:
                return f"{position} pause (until `modelpilot promote`)"
            return f"{position} pause {format_duration(seconds)}"
        case HeaderRouteStep(route=route):
            return f"{position} setHeaderRoute {route.name}"
        case unknown:
            assert_never(unknown)
