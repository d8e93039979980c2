"""When a new revision starts: spec change, retrain request, schedule — and when it may not.

The status remembers what was last acted on (`lastSpecHash`, `lastRetrainRequest`,
`lastRevisionStartedAt`), so each trigger fires once, also across operator restarts.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from modelpilot.api import names
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import CandidateState, ModelDeploymentStatus, Trigger


def training_document(spec: ModelDeploymentSpec) -> dict[str, Any]:
    """The part of the spec a trainer sees (MODELPILOT_SPEC_JSON) and a revision is cut from."""
    return {
        "training": spec.training.model_dump(mode="json", by_alias=True, exclude_none=True),
        "evaluation": spec.evaluation.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def spec_hash(spec: ModelDeploymentSpec) -> str:
    """Changes exactly when spec.training or spec.evaluation changes (defaults included).

    Except the dataset watch's interval: how often the data is looked at does not change
    what is trained (turning the watch on or off does: it chooses the split by content).
    """
    document = training_document(spec)
    dataset = document["training"]["dataset"]
    if "watch" in dataset:
        dataset["watch"] = True
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def next_fire(schedule: str, after: datetime) -> datetime:
    """The schedule's first time strictly after `after`, in UTC."""
    fire: datetime = croniter(schedule, after.astimezone(UTC)).get_next(datetime)
    return fire.astimezone(UTC)


def revision_trigger(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    *,
    annotations: Mapping[str, str],
    now: datetime,
) -> Trigger | None:
    """Why a new revision should start now, or None."""
    if status.revision_counter == 0:
        return Trigger.CREATED
    if spec_hash(spec) != status.last_spec_hash:
        return Trigger.SPEC_CHANGED
    candidate = status.candidate
    if candidate is not None and candidate.state is CandidateState.SUPERSEDED:
        # Its successor never started (the new spec was refused) and the spec went back:
        # the superseded spec still deserves its model.
        return Trigger.SPEC_CHANGED
    request = annotations.get(names.ANNOTATION_RETRAIN)
    if request and request != status.last_retrain_request:
        return Trigger.RETRAIN_REQUESTED
    # A schedule never interrupts a revision in flight (like a CronJob's Forbid policy); it
    # fires after that revision concludes if its time has passed meanwhile.
    started = status.last_revision_started_at
    schedule = spec.training.schedule
    if schedule and started and not status.phase.in_flight and next_fire(schedule, started) <= now:
        return Trigger.SCHEDULED
    return None


def estimator_refusal(spec: ModelDeploymentSpec, allowlist: tuple[str, ...]) -> str | None:
    """Why the operator refuses to train this estimator, or None when it is allowed.

    A pretrained model names no estimator: the trainer checks the classes it unpickled
    against the same allowlist (modelpilot.trainer.pretrained)."""
    estimator = spec.training.estimator
    if estimator is None:
        return None
    if any(fnmatch.fnmatchcase(estimator, pattern) for pattern in allowlist):
        return None
    return (
        f"spec.training.estimator {estimator!r} is not in the operator's allowlist "
        f"({', '.join(allowlist) or 'empty'}); use an allowed estimator or ask the platform "
        "team to extend MODELPILOT_ESTIMATOR_ALLOWLIST"
    )
