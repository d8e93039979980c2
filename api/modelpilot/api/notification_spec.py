"""spec.notifications: where the operator tells people (or their systems) what happened.

Each target gets CloudEvents 1.0 (structured JSON over HTTP POST) or a Slack-compatible
`{"text": ...}` body for the events it names. The operator posts them from a bounded queue
with retries and never lets a slow receiver hold up a reconcile (modelpilot.operator.notify);
the URL must match the platform's webhook allowlist (MODELPILOT_WEBHOOK_ALLOWLIST).

Part of the ModelDeployment spec (modelpilot.api.spec re-exports every name here).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from modelpilot.api.rollout_spec import WEBHOOK_URL_MAX, WEBHOOK_URL_PATTERN
from modelpilot.api.spec_model import SpecModel

MAX_NOTIFICATIONS = 8
# CloudEvents `type` prefix: dev.modelpilot.modeldeployment.promoted, ...
CLOUDEVENT_TYPE_PREFIX = "dev.modelpilot.modeldeployment."


class NotificationEvent(StrEnum):
    """What a notification can be about."""

    STARTED = "Started"  # a revision started (its trigger says why)
    GATE_PASSED = "GatePassed"  # a candidate passed the offline gate
    REJECTED = "Rejected"  # a candidate failed the offline gate
    CANARY_STEP = "CanaryStep"  # the canary's weight moved
    PROMOTED = "Promoted"  # a revision became stable
    ROLLED_BACK = "RolledBack"  # a canary was aborted; stable serves all traffic
    DRIFTED = "Drifted"  # the Drifted condition turned True
    DEGRADED = "Degraded"  # the Degraded condition turned True
    STALLED = "Stalled"  # the Stalled condition turned True: a person must act

    @property
    def cloudevent_type(self) -> str:
        return CLOUDEVENT_TYPE_PREFIX + self.value.lower()


class Notification(SpecModel):
    """One receiver of notifications."""

    url: str = Field(
        pattern=WEBHOOK_URL_PATTERN,
        max_length=WEBHOOK_URL_MAX,
        description="http(s) URL the events are POSTed to, allowed by the platform's "
        "webhook allowlist.",
    )
    events: list[NotificationEvent] = Field(
        default_factory=list,
        max_length=len(NotificationEvent),
        description="Which events to send; every event when empty or omitted.",
    )
    format: Literal["cloudevents", "slack"] = Field(
        "cloudevents",
        description='cloudevents (CloudEvents 1.0, structured JSON) or slack ({"text": ...}).',
    )

    def wants(self, event: NotificationEvent) -> bool:
        return not self.events or event in self.events
