"""What a tick has to tell spec.notifications' receivers: pure, from the plan it made.

A notice is derived from two things a tick already has: the Events plan() emitted (a
revision started, passed or failed the gate, a weight moved, a promotion, a rollback) and
the conditions before and after (Drifted, Degraded, Stalled turning True). A condition is
matched by its type's name, so a condition this module does not know by heart (Degraded)
notifies as soon as plan() sets it. The tick hands the notices to
modelpilot.operator.notify after the status is written, in the order they happened, so a
receiver sees them in that order.

`cloudevent` and `slack` render one notice in the two wire formats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelpilot.api import names
from modelpilot.api.spec import NotificationEvent
from modelpilot.api.status import Condition, ModelDeploymentStatus
from modelpilot.operator.rollout.draft import Event

# plan()'s Event reasons that are notifications.
BY_EVENT_REASON = {
    "RevisionStarted": NotificationEvent.STARTED,
    "GatePassed": NotificationEvent.GATE_PASSED,
    "GateRejected": NotificationEvent.REJECTED,
    "WeightChanged": NotificationEvent.CANARY_STEP,
    "Promoted": NotificationEvent.PROMOTED,
    "RolledBack": NotificationEvent.ROLLED_BACK,
}
# Conditions whose turning True is a notification, by condition type.
BY_CONDITION = {
    "Drifted": NotificationEvent.DRIFTED,
    "Degraded": NotificationEvent.DEGRADED,
    "Stalled": NotificationEvent.STALLED,
}


@dataclass(frozen=True)
class Notice:
    """One thing that happened to a ModelDeployment, for its notification receivers."""

    event: NotificationEvent
    message: str
    reason: str  # the Event's or the condition's reason
    revision: str | None  # the revision it is about, when there is one
    stable: str | None  # the stable revision after the tick
    phase: str


def notices_for(
    before: ModelDeploymentStatus, after: ModelDeploymentStatus, events: Sequence[Event]
) -> list[Notice]:
    """The notices of one tick, in the order they happened (Events first, then conditions)."""
    stable = after.stable.revision if after.stable is not None else None
    current = after.candidate or after.stable
    revision = current.revision if current is not None else None
    out: list[Notice] = []
    for event in events:
        kind = BY_EVENT_REASON.get(event.reason)
        if kind is None:
            continue
        about = _revision_in(event.message) or revision
        out.append(Notice(kind, event.message, event.reason, about, stable, after.phase.value))
    old = {c.type: c for c in before.conditions}
    for condition in after.conditions:
        kind = BY_CONDITION.get(condition.type)
        if kind is None or not _turned_true(old.get(condition.type), condition):
            continue
        out.append(
            Notice(kind, condition.message, condition.reason, revision, stable, after.phase.value)
        )
    return out


def _turned_true(old: Condition | None, new: Condition) -> bool:
    return new.status == "True" and (old is None or old.status != "True")


def _revision_in(message: str) -> str | None:
    """The revision an Event's message starts with ("v3 started ...", "v3: ...")."""
    head = message.split(" ", 1)[0].rstrip(":,")
    try:
        names.revision_number(head)
    except ValueError:
        return None
    return head


def cloudevent(
    notice: Notice,
    *,
    namespace: str,
    name: str,
    uid: str,
    event_id: str,
    time: datetime,
) -> dict[str, Any]:
    """A CloudEvents 1.0 event in structured JSON (Content-Type application/cloudevents+json).

    `source` is the ModelDeployment's API path, `subject` the revision; `id` is unique per
    event (source + id identify it), so a receiver can drop a retried duplicate.
    """
    source = f"/apis/{names.GROUP}/{names.VERSION}/namespaces/{namespace}/{names.PLURAL}/{name}"
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": notice.event.cloudevent_type,
        "time": time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": {
            "event": notice.event.value,
            "namespace": namespace,
            "name": name,
            "uid": uid,
            "revision": notice.revision,
            "stableRevision": notice.stable,
            "phase": notice.phase,
            "reason": notice.reason,
            "message": notice.message,
        },
    }
    if notice.revision is not None:
        event["subject"] = notice.revision
    return event


def slack(notice: Notice, *, namespace: str, name: str) -> dict[str, Any]:
    """A Slack incoming-webhook body ({"text": ...}; Mattermost and Teams' Slack mode too)."""
    return {"text": f"*{notice.event.value}* {namespace}/{name}: {notice.message}"}
