"""The Draft: the plan one plan() call builds, and the verbs every step of it shares.

plan() (modelpilot.operator.rollout.plan) and the canary's steps
(modelpilot.operator.rollout.canary_steps) both write to it; it lives apart from either so
neither imports the other's internals. Mutable only inside one plan() call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from modelpilot.api.reasons import ConditionReason, EventReason
from modelpilot.api.status import (
    HISTORY_LIMIT,
    CandidateState,
    CandidateStatus,
    FailureReason,
    HistoryEntry,
    ModelDeploymentStatus,
    StableStatus,
)
from modelpilot.operator.rollout import conditions as cond
from modelpilot.operator.rollout.actions import Action
from modelpilot.operator.rollout.naming import stable_service_name
from modelpilot.operator.rollout.world import World


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    # A failure's Event says its FailureReason; a stall's, its Stalled reason.
    reason: EventReason | FailureReason | ConditionReason
    message: str


@dataclass
class Draft:
    """The plan being built; mutable only inside one plan() call."""

    world: World
    now: datetime
    status: ModelDeploymentStatus
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    problem: cond.Problem | None = None  # why the spec is refused; None when it is fine
    # The CanaryHealthy condition as this tick judged it; None leaves the previous one as it was.
    canary_health: cond.ConditionValue | None = None
    # The Drifted condition as this tick's monitoring window judged it; None leaves the
    # previous one as it was.
    drift_condition: cond.ConditionValue | None = None
    # The Degraded condition as this tick's feedback window judged it (rollout.performance);
    # None leaves the previous one as it was.
    degraded_condition: cond.ConditionValue | None = None
    # New values of the promote/abort annotations, not yet acted on; None when there is none.
    promote_request: str | None = None
    abort_request: str | None = None
    # Seconds until something time-based is due (pause end, analysis window, next step).
    waits: list[float] = field(default_factory=list)

    def update(self, **changes: object) -> None:
        self.status = self.status.model_copy(update=changes)

    def update_candidate(self, **changes: object) -> CandidateStatus:
        assert self.status.candidate is not None
        candidate = self.status.candidate.model_copy(update=changes)
        self.update(candidate=candidate)
        return candidate

    def event(
        self,
        type_: Literal["Normal", "Warning"],
        reason: EventReason | FailureReason | ConditionReason,
        message: str,
    ) -> None:
        self.events.append(Event(type_, reason, message))

    def conclude(
        self, state: CandidateState, message: str | None, *, reason: FailureReason | None = None
    ) -> None:
        """The candidate ends (rejected, failed, superseded ...): record it in history.

        A failure carries its `reason` and its detail as typed fields (candidate.failureReason,
        candidate.failureDetail); its message keeps the words people have always read
        ("TrainingFailed: ...").
        """
        detail = None
        if reason is not None:
            detail = message or "unknown"
            message = cond.failure_message(reason, detail)
        candidate = self.update_candidate(
            state=state,
            finished_at=self.now,
            message=message,
            failure_reason=reason,
            failure_detail=detail,
        )
        self.update(history=with_history(self.status, candidate, state))

    def promote(self, candidate: CandidateStatus) -> None:
        """The candidate becomes stable: record it in history."""
        assert candidate.model_sha256 is not None and candidate.deployment is not None
        old = self.status.stable
        stable = StableStatus(
            revision=candidate.revision,
            model_sha256=candidate.model_sha256,
            metric=candidate.metric,
            score=candidate.candidate_score,
            deployment=candidate.deployment,
            service=stable_service_name(self.world.name),
            spec_hash=candidate.spec_hash,
            trigger=candidate.trigger,
            promoted_at=self.now,
            training_data_sha256=candidate.training_data_sha256,
        )
        promoted = candidate.model_copy(
            update={"state": CandidateState.PROMOTED, "finished_at": self.now}
        )
        self.update(
            stable=stable,
            candidate=None,
            canary=None,
            history=with_history(self.status, promoted, CandidateState.PROMOTED),
        )
        score = "" if stable.score is None else f" ({stable.metric} {stable.score:.4f})"
        replacing = "" if old is None else f", replacing {old.revision}"
        self.event("Normal", EventReason.PROMOTED, f"{stable.revision} serves{score}{replacing}")

    def roll_back(self, candidate: CandidateStatus, reason: FailureReason, message: str) -> None:
        """The canary is aborted: weight back to stable at once; the sweep finalizes the route
        and removes the canary."""
        canary = self.status.canary
        assert canary is not None
        self.update(
            canary=canary.model_copy(
                update={
                    "weight": 0,
                    "actual_weight": 0,
                    "canary_replicas": 0,
                    "paused": False,
                    "message": f"rolled back: {message}",
                }
            )
        )
        # candidate.message keeps the gate's words (the Evaluated condition shows them); the
        # rollback's reason goes to history, status.canary and CanaryHealthy.
        rolled_back = self.update_candidate(
            state=CandidateState.ROLLED_BACK, finished_at=self.now, failure_reason=reason
        )
        outcome = rolled_back.model_copy(update={"message": cond.failure_message(reason, message)})
        self.update(history=with_history(self.status, outcome, CandidateState.ROLLED_BACK))
        self.canary_health = cond.ConditionValue(
            "False", reason, f"{candidate.revision} rolled back: {message}"
        )
        stable = self.status.stable
        serving = "" if stable is None else f"; {stable.revision} serves all traffic"
        self.event(
            "Warning",
            EventReason.ROLLED_BACK,
            f"{candidate.revision} rolled back: {message}{serving}",
        )


def with_history(
    status: ModelDeploymentStatus, candidate: CandidateStatus, outcome: CandidateState
) -> list[HistoryEntry]:
    entry = HistoryEntry(
        revision=candidate.revision,
        outcome=outcome,
        trigger=candidate.trigger,
        started_at=candidate.started_at,
        finished_at=candidate.finished_at,
        metric=candidate.metric,
        score=candidate.candidate_score,
        stable_score=candidate.stable_score,
        model_sha256=candidate.model_sha256,
        spec_hash=candidate.spec_hash,
        estimator=candidate.estimator,
        params=candidate.params,
        holdout_sha256=candidate.holdout_sha256,
        training_data_sha256=candidate.training_data_sha256,
        message=candidate.message,
    )
    rest = [h for h in status.history if h.revision != candidate.revision]
    kept = [entry, *rest]
    # Bounded, oldest out first — but never the stable revision's entry: its digest is what
    # a pin back to it (and the bundle GC's keep-list) reads.
    stable = status.stable.revision if status.stable is not None else None
    while len(kept) > HISTORY_LIMIT:
        drop = next(
            (i for i in range(len(kept) - 1, 0, -1) if kept[i].revision != stable),
            len(kept) - 1,
        )
        del kept[drop]
    return kept
