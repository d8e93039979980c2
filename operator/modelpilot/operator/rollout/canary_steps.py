"""The canary's steps: one tick of a canary, from its start to its promotion or rollback.

plan() (modelpilot.operator.rollout.plan) calls in here for a candidate beside a stable with
spec.rollout.steps: take the promote/abort requests, start the canary, then advance it at
most one step per tick, judging the analysis windows as they arrive (rollout.canary_analysis).
The arithmetic the I/O edge shares (whether a canary is live, when a window is due) is in
rollout.canary, the steps' union in rollout.steps, and how traffic is split in
rollout.traffic (a strategy chosen once per plan); this module decides, on a Draft.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import assert_never

from modelpilot.api import names
from modelpilot.api.reasons import ConditionReason, EventReason
from modelpilot.api.spec import ModelDeploymentSpec, WebhookType
from modelpilot.api.status import (
    CanaryStatus,
    CandidateState,
    CandidateStatus,
    FailureReason,
)
from modelpilot.operator.analysis.verdict import VerdictKind
from modelpilot.operator.rollout import canary as canary_math
from modelpilot.operator.rollout.canary_analysis import judge_analysis_window
from modelpilot.operator.rollout.conditions import ConditionValue
from modelpilot.operator.rollout.draft import Draft
from modelpilot.operator.rollout.gates import (
    GATE_RECHECK_SECONDS,
    decide,
    gate_status,
    hooks_of,
    pending_gate,
)
from modelpilot.operator.rollout.serving_objects import (
    conclude_if_deployment_failed,
    ensure_revision_serving,
)
from modelpilot.operator.rollout.steps import (
    CanaryStep,
    HeaderRouteStep,
    Pause,
    SetWeight,
    canary_steps,
    describe_step,
    step_at,
)
from modelpilot.operator.rollout.traffic import TrafficStrategy
from modelpilot.operator.routers.headers import HeaderMatch, HeaderRoute
from modelpilot.operator.routers.weights import Weights

# A canary step that just finished: the next one is looked at after this (one step per tick).
REQUEUE_NEXT_STEP = 1.0
# The route could not be read (missing HTTPRoute, ...): look again after this.
REQUEUE_ROUTE_PROBLEM = 5.0


def take_promote_and_abort_requests(draft: Draft) -> None:
    """A new value of the promote/abort annotation is a request, taken once.

    Taken (remembered in status) whether or not a canary runs, so a request made while
    nothing could act on it does not fire at some later canary by surprise.
    """
    annotations, status = draft.world.annotations, draft.status
    promote = annotations.get(names.ANNOTATION_PROMOTE)
    if promote and promote != status.last_promote_request:
        draft.promote_request = promote
        draft.update(last_promote_request=promote)
    abort = annotations.get(names.ANNOTATION_ABORT)
    if abort and abort != status.last_abort_request:
        draft.abort_request = abort
        draft.update(last_abort_request=abort)


def start_canary(draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus) -> None:
    stable = draft.status.stable
    assert stable is not None
    candidate = draft.update_candidate(state=CandidateState.CANARY)
    draft.update(
        canary=CanaryStatus(
            revision=candidate.revision,
            step_index=0,
            step_started_at=draft.now,
            step=describe_step(canary_steps(spec), 0),
            weight=0,
            actual_weight=0,
            message="waiting for the canary's pods",
            rollout=canary_math.rollout_snapshot(spec),
            observed_at=draft.now,
        )
    )
    draft.canary_health = ConditionValue(
        "Unknown",
        ConditionReason.ANALYSIS_PENDING,
        f"{candidate.revision}: no analysis window yet",
    )
    router = spec.rollout.traffic_router.kind
    draft.event(
        "Normal",
        EventReason.CANARY_STARTED,
        f"{candidate.revision} starts as a canary beside {stable.revision} "
        f"({len(spec.rollout.steps)} steps, {router} router)",
    )


def advance_canary(
    draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus, traffic: TrafficStrategy
) -> None:
    """At most one step per tick; every branch is safe to repeat after a restart.

    The weight the canary should carry is settled first (status.canary.weight); the route
    is steered to it once, at the end of the tick (`_steer`), so no action is taken back.
    """
    assert candidate.model_sha256 is not None
    if draft.status.stable is None:
        return  # unreachable: only a promotion replaces stable, and it ends the canary
    canary = _resume(draft, spec, candidate)
    if _ended_before_the_step(draft, spec, candidate, canary):
        return
    judged = draft.status.canary
    assert judged is not None
    canary = judged
    promoted_by_hand = draft.promote_request is not None
    if promoted_by_hand:
        canary = _promote_by_hand(draft, spec, candidate, canary)

    step = step_at(canary_steps(spec), canary.step_index)
    # Scale ahead for a setWeight step: its pods must be Ready before the weight moves. Not
    # at a webhook gate: there the canary keeps the pods of the weight it has (with the
    # replicas router every Ready canary pod takes traffic through Service NAME).
    gated = pending_gate(spec, draft.status) is not None
    pods = traffic.canary_pods(canary.weight if gated else _target_weight(step, canary.weight))
    ensure_revision_serving(draft, spec, candidate.revision, candidate.model_sha256, pods)
    deployment = draft.world.deployments.get(candidate.revision)
    ready = deployment is not None and deployment.ready_for(pods)

    if draft.world.route_problem is not None:  # only a strategy with a route reads one
        draft.update(canary=canary.model_copy(update={"message": draft.world.route_problem}))
        draft.waits.append(REQUEUE_ROUTE_PROBLEM)
        return

    if promoted_by_hand and step is not None:
        pass  # the promote was this tick's step; the next one runs next tick
    elif canary.paused and not isinstance(step, Pause):
        pass  # paused by the analysis (onInconclusive: Pause): only a person moves it on
    elif not _gate_open(draft, spec, candidate):
        pass  # a webhook gate holds it here: status.canary.gate says which and why
    else:
        current = draft.status.canary  # with the gate just passed, if one was
        assert current is not None
        _run_step(draft, spec, candidate, current, traffic, step=step, pods=pods, ready=ready)
    _steer(draft, traffic)
    _record_actual_weight(draft, traffic)
    wait = canary_math.seconds_until_analysis_window(spec, draft.status, draft.now)
    if wait is not None:
        draft.waits.append(max(wait, REQUEUE_NEXT_STEP))


def _resume(draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus) -> CanaryStatus:
    """The canary's recorded progress, with this tick's elapsed time added."""
    canary = draft.status.canary
    if canary is None or canary.revision != candidate.revision:
        # No progress recorded for this revision (status restored from a backup): start over.
        start_canary(draft, spec, candidate)
        canary = draft.status.canary
        assert canary is not None
    canary = canary_math.with_elapsed(canary, draft.now)  # see canary.py: time
    draft.update(canary=canary)
    return canary


def _ended_before_the_step(
    draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus, canary: CanaryStatus
) -> bool:
    """An abort request, a failed Deployment or a failed analysis ends the canary here."""
    if draft.abort_request is not None:
        draft.roll_back(candidate, FailureReason.ABORTED, "aborted by `modelpilot abort`")
        return True
    failed = conclude_if_deployment_failed(draft, candidate)
    if failed is not None:
        draft.update(canary=canary.model_copy(update={"weight": 0, "actual_weight": 0}))
        draft.canary_health = ConditionValue(
            "False", FailureReason.DEPLOYMENT_FAILED, f"{candidate.revision}: {failed}"
        )
        return True
    return judge_analysis_window(draft, spec, candidate)  # True: the analysis aborted it


def _promote_by_hand(
    draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus, canary: CanaryStatus
) -> CanaryStatus:
    """`modelpilot promote` ends the current step (`--full`: all of them) this tick."""
    steps = canary_steps(spec)
    full = draft.world.annotations.get(names.ANNOTATION_PROMOTE_FULL) == "true"
    index = len(steps) if full else min(canary.step_index + 1, len(steps))
    what = "fully" if full else f"past step {canary.step_index + 1}"
    draft.event(
        "Normal", EventReason.PROMOTE_REQUESTED, f"{candidate.revision} promoted {what} by hand"
    )
    draft.waits.append(REQUEUE_NEXT_STEP)
    # A person's promote passes the webhook gate it meets (--full: every gate).
    pending = pending_gate(spec, draft.status)
    passed = [g.value for g in WebhookType] if full else [pending.value] if pending else []
    if passed:
        merged = [*canary.gates_passed, *(g for g in passed if g not in canary.gates_passed)]
        canary = canary.model_copy(update={"gates_passed": merged})
    return _at_step(draft, spec, canary, index)


def _gate_open(draft: Draft, spec: ModelDeploymentSpec, candidate: CandidateStatus) -> bool:
    """The webhook gate the canary stands at (rollout.gates), decided on this tick's answers.

    Held: the canary stays where it is and says why (status.canary.gate and .message, a
    Warning Event when it starts holding), and the tick looks again soon. Passed: recorded
    for this canary, never asked again.
    """
    kind = pending_gate(spec, draft.status)
    canary = draft.status.canary
    if kind is None or canary is None:
        return True
    decision = decide(kind, hooks_of(spec, kind), draft.world.gate_answers)
    gate = gate_status(kind, decision, canary.gate, draft.now)
    rev = candidate.revision
    if decision.open:
        draft.update(
            canary=canary.model_copy(
                update={"gate": gate, "gates_passed": [*canary.gates_passed, kind.value]}
            )
        )
        draft.event("Normal", EventReason.WEBHOOK_GATE_PASSED, f"{rev}: {decision.message}")
        return True
    if gate.since == draft.now:  # it starts holding (or holds at another gate) now
        draft.event("Warning", EventReason.WEBHOOK_GATE_HELD, f"{rev}: {decision.message}")
    draft.update(canary=canary.model_copy(update={"gate": gate, "message": decision.message}))
    draft.waits.append(GATE_RECHECK_SECONDS)
    return False


def _run_step(
    draft: Draft,
    spec: ModelDeploymentSpec,
    candidate: CandidateStatus,
    canary: CanaryStatus,
    traffic: TrafficStrategy,
    *,
    step: CanaryStep | None,
    pods: int,
    ready: bool,
) -> None:
    """The current step's work: move the weight, wait out a pause, or promote after the last."""
    match step:
        case None:
            _finish_promotion(draft, spec, candidate, canary, traffic, ready=ready)
        case SetWeight(weight=weight) if not ready:
            # Why they are not Ready, when a person can act on it (an image that does not
            # pull, a bundle refused by its digest): the condition then says so.
            deployment = draft.world.deployments.get(candidate.revision)
            why = deployment.pod_problem if deployment is not None else None
            _note(
                draft,
                canary,
                f"waiting for {pods} Ready canary pods before {weight}%"
                + (f": {why}" if why else ""),
            )
        case SetWeight(weight=weight):
            moved = canary.model_copy(update={"weight": weight})
            draft.update(canary=moved)
            draft.event(
                "Normal",
                EventReason.WEIGHT_CHANGED,
                f"{candidate.revision} canary weight {weight}%",
            )
            _at_step(draft, spec, moved, canary.step_index + 1)
            draft.waits.append(REQUEUE_NEXT_STEP)
        case Pause(seconds=seconds):
            _advance_pause(draft, spec, canary, seconds)
        case HeaderRouteStep() if not ready:
            _note(draft, canary, f"waiting for {pods} Ready canary pods before the header route")
        case HeaderRouteStep(route=route):
            routes = [r for r in canary.header_routes if r.get("name") != route.name]
            if route.match:
                routes.append(_recorded(route))
            moved = canary.model_copy(update={"header_routes": routes})
            what = "set" if route.match else "removed"
            draft.event(
                "Normal",
                EventReason.HEADER_ROUTE_SET,
                f"{candidate.revision}: header route {route.name} {what}",
            )
            _at_step(draft, spec, moved, canary.step_index + 1)
            draft.waits.append(REQUEUE_NEXT_STEP)
        case unknown:
            assert_never(unknown)


def _recorded(route: HeaderRoute) -> dict[str, object]:
    """status.canary.headerRoutes' entry of a header route."""
    return {
        "name": route.name,
        "match": [{"header": m.header, "kind": m.kind, "value": m.value} for m in route.match],
    }


def header_routes_of(canary: CanaryStatus) -> tuple[HeaderRoute, ...]:
    """The header routes status.canary.headerRoutes asks for."""
    return tuple(
        HeaderRoute(
            str(entry["name"]),
            tuple(HeaderMatch(m["header"], m["kind"], m["value"]) for m in entry["match"]),
        )
        for entry in canary.header_routes
    )


def _target_weight(step: CanaryStep | None, weight: int) -> int:
    """The weight the canary's pods must be ready for: the next setWeight's, 100 at the end."""
    match step:
        case None:
            return 100
        case SetWeight(weight=target):
            return target
        case Pause() | HeaderRouteStep():
            return weight
        case unknown:
            assert_never(unknown)


def _advance_pause(
    draft: Draft, spec: ModelDeploymentSpec, canary: CanaryStatus, seconds: float | None
) -> None:
    if seconds is None or canary.paused:
        why = (
            "paused until `modelpilot promote` (or `modelpilot abort`)"
            if seconds is None
            else canary.message or "paused"
        )
        draft.update(canary=canary.model_copy(update={"paused": True, "message": why}))
        return
    started = canary.step_started_at or draft.now
    # Elapsed by the bounded tick clock, not now - started: a clock jump never ends it early.
    left = seconds - canary.elapsed_seconds
    if left > 0:
        # The end time, not the seconds left: the message (and status) stays the same all
        # pause long instead of being rewritten every tick.
        until = (started + timedelta(seconds=seconds)).strftime("%H:%M:%SZ")
        _note(draft, canary, f"pausing until {until}")
        draft.waits.append(left)
        return
    passed = _passed_since(canary, started)
    if canary.weight > 0 and not passed:
        _note(draft, canary, "pause over; holding for a passed analysis window")
        return
    _at_step(draft, spec, canary, canary.step_index + 1)
    draft.waits.append(REQUEUE_NEXT_STEP)


def _passed_since(canary: CanaryStatus, since: datetime) -> bool:
    """The newest analysis window passed, and it ended after `since`."""
    windows = canary.analysis.windows
    if not windows:
        return False
    newest = windows[0]
    ended = newest.ended_at or newest.started_at
    return newest.verdict == VerdictKind.PASS.value and ended >= since


def _at_step(
    draft: Draft, spec: ModelDeploymentSpec, canary: CanaryStatus, index: int
) -> CanaryStatus:
    moved = canary.model_copy(
        update={
            "step_index": index,
            "step_started_at": draft.now,
            "elapsed_seconds": 0.0,
            "step": describe_step(canary_steps(spec), index),
            "paused": False,
            "message": None,
        }
    )
    draft.update(canary=moved)
    return moved


def _note(draft: Draft, canary: CanaryStatus, message: str) -> None:
    """What the canary waits for (status.canary.message); only rewritten when it changes."""
    current = draft.status.canary or canary
    if current.message != message:
        draft.update(canary=current.model_copy(update={"message": message}))


def _steer(draft: Draft, traffic: TrafficStrategy) -> None:
    """One SetWeights (or none) per tick: the split the canary's status weight asks for."""
    stable, canary = draft.status.stable, draft.status.canary
    if stable is None or canary is None or not canary_math.canary_is_live(draft.status):
        return  # promoted or rolled back this tick: the sweep finalizes the route
    steering = traffic.steer(
        draft.world,
        stable=stable.revision,
        canary=canary.revision,
        weight=canary.weight,
        header_routes=header_routes_of(canary),
    )
    if steering.unread:
        draft.waits.append(REQUEUE_NEXT_STEP)
    draft.actions.extend(steering.actions)


def _record_actual_weight(draft: Draft, traffic: TrafficStrategy) -> None:
    status = draft.status
    canary, stable = status.canary, status.stable
    if canary is None or stable is None or status.candidate is None:
        return
    update = traffic.observed_split(
        draft.world, stable=stable.revision, canary=canary.revision, weight=canary.weight
    )
    draft.update(canary=canary.model_copy(update=dict(update)))


def _finish_promotion(
    draft: Draft,
    spec: ModelDeploymentSpec,
    candidate: CandidateStatus,
    canary: CanaryStatus,
    traffic: TrafficStrategy,
    *,
    ready: bool,
) -> None:
    """All steps passed (or a promote): all pods Ready at 100 %, then it becomes stable.

    replicas router: the canary runs all `replicas` pods beside stable's, so the Service
    splits half/half until the promotion, when Service NAME selects only the new version and
    the old Deployment is removed. Mesh routers: the route carries 100 % to the canary first;
    the old backend and Deployment go once it does.
    """
    if not ready:  # as for any weight: the pods first
        _note(draft, canary, f"promoting: waiting for {spec.serving.replicas} Ready canary pods")
        return
    if canary.weight != 100:
        canary = canary.model_copy(update={"weight": 100})
        draft.update(canary=canary)  # _steer moves the route there at the end of the tick
    if not traffic.carries(draft.world, Weights.CANARY_ONLY):
        _note(draft, canary, "promoting: waiting for the route to carry 100% to the canary")
        draft.waits.append(REQUEUE_NEXT_STEP)
        return
    windows = len(canary.analysis.windows)
    passed = sum(1 for w in canary.analysis.windows if w.verdict == VerdictKind.PASS.value)
    draft.canary_health = ConditionValue(
        "True",
        ConditionReason.PROMOTED,
        f"{candidate.revision} promoted ({passed} of the last {windows} analysis windows passed)",
    )
    draft.promote(candidate)
