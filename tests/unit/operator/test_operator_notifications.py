"""spec.notifications: which notices a tick has (pure), how they are rendered (CloudEvents
1.0, Slack), and the sender's bounded queue, retries and allowlist; then a whole canary
walked with the operator core, the receiver seeing every event in order."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime

import pytest
from canary_walk import SETTINGS, SPEC, Walk

from modelpilot.api.spec import Notification, NotificationEvent, parse_spec
from modelpilot.api.status import Condition, ModelDeploymentStatus
from modelpilot.operator.notify import CLOUDEVENTS_JSON, Answer, Delivery, Notifier
from modelpilot.operator.rollout.draft import Event
from modelpilot.operator.rollout.notices import Notice, cloudevent, notices_for, slack

T = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RECEIVER = "http://receiver.ops:8080/events"
ALLOWED = dataclasses.replace(SETTINGS, webhook_allowlist=("http://receiver.ops:8080/*",))


def condition(type_: str, status: str, reason: str = "R", message: str = "m") -> Condition:
    return Condition(
        type=type_, status=status, reason=reason, message=message, last_transition_time=T
    )


def status_with(*conditions: Condition) -> ModelDeploymentStatus:
    return ModelDeploymentStatus(conditions=list(conditions))


# --- which notices ---------------------------------------------------------------------------


def test_plan_events_become_notices_in_their_order_and_others_are_ignored():
    events = [
        Event("Normal", "RevisionStarted", "v2 started (RetrainRequested): training Job x"),
        Event("Normal", "GatePassed", "v2: accuracy 0.95, stable 0.90: passed"),
        Event("Normal", "CanaryStarted", "v2 starts as a canary beside v1"),
        Event("Normal", "WeightChanged", "v2 canary weight 20%"),
        Event("Warning", "RolledBack", "v2 rolled back: analysis failed; v1 serves"),
    ]
    notices = notices_for(status_with(), status_with(), events)
    assert [(n.event, n.revision) for n in notices] == [
        (NotificationEvent.STARTED, "v2"),
        (NotificationEvent.GATE_PASSED, "v2"),
        (NotificationEvent.CANARY_STEP, "v2"),
        (NotificationEvent.ROLLED_BACK, "v2"),
    ]
    assert notices[2].message == "v2 canary weight 20%"


def test_a_rejected_candidate_and_a_promotion_are_notices():
    events = [
        Event("Warning", "GateRejected", "v3: accuracy 0.70 < threshold 0.90"),
        Event("Normal", "Promoted", "v2 serves (accuracy 0.9500), replacing v1"),
    ]
    kinds = [n.event for n in notices_for(status_with(), status_with(), events)]
    assert kinds == [NotificationEvent.REJECTED, NotificationEvent.PROMOTED]


@pytest.mark.parametrize("type_", ["Drifted", "Degraded", "Stalled"])
def test_a_condition_turning_true_notifies_once(type_):
    before = status_with(condition(type_, "False"))
    after = status_with(condition(type_, "True", reason="Why", message="what happened"))
    [notice] = notices_for(before, after, [])
    assert (notice.event.value, notice.reason, notice.message) == (type_, "Why", "what happened")
    assert notices_for(after, after, []) == [], "still True: nothing new"
    assert notices_for(status_with(), after, []) != [], "True at first sight counts"
    assert notices_for(after, before, []) == [], "turning False is not a notice"


def test_a_condition_nobody_subscribes_to_is_not_a_notice():
    after = status_with(condition("Ready", "True"), condition("CanaryHealthy", "True"))
    assert notices_for(status_with(), after, []) == []


# --- rendering -------------------------------------------------------------------------------

NOTICE = Notice(
    NotificationEvent.PROMOTED,
    "v2 serves (accuracy 0.9500), replacing v1",
    "Promoted",
    "v2",
    "v2",
    "Serving",
)


def test_a_cloudevent_is_structured_cloudevents_1_0_json():
    event = cloudevent(NOTICE, namespace="ml", name="iris", uid="u-1", event_id="e-1", time=T)
    assert event == {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/apis/modelpilot.dev/v1alpha1/namespaces/ml/modeldeployments/iris",
        "type": "dev.modelpilot.modeldeployment.promoted",
        "subject": "v2",
        "time": "2026-01-01T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {
            "event": "Promoted",
            "namespace": "ml",
            "name": "iris",
            "uid": "u-1",
            "revision": "v2",
            "stableRevision": "v2",
            "phase": "Serving",
            "reason": "Promoted",
            "message": "v2 serves (accuracy 0.9500), replacing v1",
        },
    }
    json.dumps(event)  # serialisable as it is


def test_a_slack_message_is_one_line_of_text():
    assert slack(NOTICE, namespace="ml", name="iris") == {
        "text": "*Promoted* ml/iris: v2 serves (accuracy 0.9500), replacing v1"
    }


# --- the sender ------------------------------------------------------------------------------


def target(**fields) -> Notification:
    return Notification.model_validate({"url": RECEIVER, **fields})


def publish(notifier: Notifier, targets, notices=(NOTICE,)) -> None:
    notifier.publish(targets, notices, namespace="ml", name="iris", uid="u-1", now=T)


def test_a_full_queue_drops_and_counts_and_never_waits():
    counted: list[str] = []
    notifier = Notifier(allowlist=(RECEIVER,), capacity=2, count=counted.append, start=False)
    publish(notifier, [target()], [NOTICE] * 5)
    assert notifier.counts["dropped"] == 3
    assert counted == ["dropped"] * 3


def test_events_a_target_did_not_ask_for_and_urls_outside_the_allowlist_are_not_queued():
    notifier = Notifier(allowlist=(RECEIVER,), capacity=10, start=False)
    publish(notifier, [target(events=["RolledBack"])])
    publish(notifier, [Notification(url="http://elsewhere/x")])
    assert notifier._queue.qsize() == 0


def test_a_failed_post_is_retried_with_exponential_backoff_then_counted():
    answers = [Answer(False, "HTTP 503", retry=True)] * 2 + [Answer(True, "HTTP 202", retry=False)]
    slept: list[float] = []
    posted: list[Delivery] = []

    def post(delivery: Delivery) -> Answer:
        posted.append(delivery)
        return answers[len(posted) - 1]

    notifier = Notifier(allowlist=(RECEIVER,), post=post, sleep=slept.append, start=False)
    publish(notifier, [target()])
    assert notifier.deliver(notifier._queue.get_nowait())
    assert slept == [1.0, 2.0]
    assert notifier.counts == {"sent": 1, "failed": 0, "dropped": 0}
    body = json.loads(posted[0].body)
    assert posted[0].content_type == CLOUDEVENTS_JSON
    assert body["type"] == "dev.modelpilot.modeldeployment.promoted"
    assert {json.loads(p.body)["id"] for p in posted} == {body["id"]}, "a retry keeps its id"


def test_a_4xx_is_not_retried_and_a_receiver_that_stays_down_is_given_up():
    slept: list[float] = []
    notifier = Notifier(
        allowlist=(RECEIVER,),
        post=lambda d: Answer(False, "HTTP 400", retry=False),
        sleep=slept.append,
        start=False,
    )
    publish(notifier, [target()])
    assert not notifier.deliver(notifier._queue.get_nowait())
    assert slept == []
    down = Notifier(
        allowlist=(RECEIVER,),
        post=lambda d: Answer(False, "ConnectError", retry=True),
        sleep=slept.append,
        start=False,
        attempts=4,
    )
    publish(down, [target(format="slack")])
    delivery = down._queue.get_nowait()
    assert json.loads(delivery.body) == slack(NOTICE, namespace="ml", name="iris")
    assert not down.deliver(delivery)
    assert slept == [1.0, 2.0, 4.0]
    assert down.counts["failed"] == 1


# --- a whole canary --------------------------------------------------------------------------


def test_a_canary_notifies_every_step_in_order():
    received: list[dict] = []

    def post(delivery: Delivery) -> Answer:
        received.append(json.loads(delivery.body))
        return Answer(True, "HTTP 200", retry=False)

    notifier = Notifier(allowlist=ALLOWED.webhook_allowlist, post=post, start=False)
    spec = copy.deepcopy(SPEC)
    spec["notifications"] = [{"url": RECEIVER}]
    parse_spec(spec)
    walk = Walk(spec, settings=ALLOWED, notifier=notifier)
    walk.start_canary()

    def promoted() -> bool:
        walk.ready("v2")
        return walk.status().phase == "Serving"

    walk.until(promoted, limit=60)
    while not notifier._queue.empty():
        notifier.deliver(notifier._queue.get_nowait())
    seen = [(e["data"]["event"], e["subject"]) for e in received]
    assert seen == [
        ("Started", "v1"),
        ("GatePassed", "v1"),
        ("Promoted", "v1"),
        ("Started", "v2"),
        ("GatePassed", "v2"),
        ("CanaryStep", "v2"),
        ("CanaryStep", "v2"),
        ("Promoted", "v2"),
    ]
    assert all(e["source"].endswith("/namespaces/ml/modeldeployments/iris") for e in received)
    assert len({e["id"] for e in received}) == len(received)
