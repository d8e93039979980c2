"""Webhook gates (spec.rollout.webhooks): the pure decision, and the canary walked through a
held and then approved gate with the operator core (tick) on the in-memory cluster.

The webhooks answer through a fake caller run at once (GateChecker's `submit`), so every
tick sees the newest answer; the real HTTP call is tested in test_operator_gate_checker.py.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
from canary_walk import SETTINGS, SPEC, Walk

from modelpilot.api import names
from modelpilot.api.spec import RolloutWebhook, WebhookType, parse_spec
from modelpilot.api.status import CanaryStatus, ModelDeploymentStatus
from modelpilot.operator.gates import GateChecker
from modelpilot.operator.rollout.gates import decide, pending_gate
from modelpilot.operator.rollout.policy import policy_of, url_allowed, webhook_refusal
from modelpilot.operator.rollout.world import GateAnswer
from modelpilot.operator.settings import SettingsError, load_settings

PRE = "http://hooks.ops/pre"
CONFIRM = "http://hooks.ops/confirm"
ALLOWED = dataclasses.replace(SETTINGS, webhook_allowlist=("http://hooks.ops/*",))


def hook(kind: str, url: str) -> RolloutWebhook:
    return RolloutWebhook.model_validate({"type": kind, "url": url})


class Answers:
    """The webhooks' answers by URL, changed by the test; every call is recorded."""

    def __init__(self, **codes: int) -> None:
        self.codes = {PRE: 200, CONFIRM: 200}
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, webhook: RolloutWebhook, payload) -> GateAnswer:
        self.calls.append((webhook.url, dict(payload)))
        code = self.codes[webhook.url]
        return GateAnswer(200 <= code < 300, f"HTTP {code}")


def serving(walk: Walk) -> bool:
    """The canary's pods are Ready at whatever count it asks (the fake has no kubelet)."""
    walk.ready("v2")
    return walk.status().phase == "Serving"


def gated_walk(answers: Answers, *kinds: str) -> Walk:
    spec = copy.deepcopy(SPEC)
    urls = {"pre-rollout": PRE, "confirm-promotion": CONFIRM}
    spec["rollout"]["webhooks"] = [{"type": k, "url": urls[k]} for k in kinds]
    checker = GateChecker(
        allowlist=ALLOWED.webhook_allowlist,
        caller=answers,
        recheck_seconds=0.0,
        submit=lambda fn, *args: fn(*args),
    )
    return Walk(spec, settings=ALLOWED, gates=checker)


# --- the decision -------------------------------------------------------------------------


def test_no_webhooks_of_the_type_is_an_open_gate():
    assert decide(WebhookType.PRE_ROLLOUT, (), {}).open


def test_a_webhook_not_asked_yet_holds_the_gate_and_is_named():
    decision = decide(WebhookType.CONFIRM_PROMOTION, [hook("confirm-promotion", CONFIRM)], {})
    assert not decision.open
    assert decision.message == f"confirm-promotion gate held by {CONFIRM}: waiting for its answer"


def test_one_non_2xx_answer_holds_the_gate_naming_its_url_and_status():
    hooks = [hook("pre-rollout", PRE), hook("pre-rollout", CONFIRM)]
    answers = {PRE: GateAnswer(True, "HTTP 200"), CONFIRM: GateAnswer(False, "HTTP 403")}
    decision = decide(WebhookType.PRE_ROLLOUT, hooks, answers)
    assert not decision.open
    assert decision.message == f"pre-rollout gate held by {CONFIRM}: HTTP 403"


def test_every_2xx_opens_the_gate():
    hooks = [hook("pre-rollout", PRE), hook("pre-rollout", CONFIRM)]
    answers = {PRE: GateAnswer(True, "HTTP 200"), CONFIRM: GateAnswer(True, "HTTP 204")}
    decision = decide(WebhookType.PRE_ROLLOUT, hooks, answers)
    assert decision.open
    assert decision.message == f"pre-rollout gate passed ({PRE}: HTTP 200; {CONFIRM}: HTTP 204)"


def test_a_timeout_holds_like_a_denial():
    answers = {PRE: GateAnswer(False, "no answer within 2s")}
    decision = decide(WebhookType.PRE_ROLLOUT, [hook("pre-rollout", PRE)], answers)
    assert (decision.open, decision.message) == (
        False,
        f"pre-rollout gate held by {PRE}: no answer within 2s",
    )


def _canary_status(step_index: int, weight: int, passed: list[str]) -> ModelDeploymentStatus:
    raw_spec = copy.deepcopy(SPEC)
    raw_spec["rollout"]["webhooks"] = [
        {"type": "pre-rollout", "url": PRE},
        {"type": "confirm-promotion", "url": CONFIRM},
    ]
    status = ModelDeploymentStatus.model_validate(
        {
            "stable": {
                "revision": "v1",
                "modelSha256": "a" * 64,
                "deployment": "iris-v1",
                "service": "iris",
            },
            "candidate": {
                "revision": "v2",
                "state": "Canary",
                "trigger": "RetrainRequested",
                "specHash": "x",
                "job": "iris-train-v2",
                "startedAt": "2026-01-01T12:00:00Z",
            },
        }
    )
    canary = CanaryStatus(revision="v2", step_index=step_index, weight=weight, gates_passed=passed)
    return status.model_copy(update={"canary": canary})


@pytest.mark.parametrize(
    ("step_index", "weight", "passed", "expected"),
    [
        (0, 0, [], WebhookType.PRE_ROLLOUT),  # before the first step
        (0, 0, ["pre-rollout"], None),  # passed once: never asked again
        (1, 20, ["pre-rollout"], None),  # between steps: no gate
        (4, 50, ["pre-rollout"], WebhookType.CONFIRM_PROMOTION),  # every step done
        (4, 100, ["pre-rollout", "confirm-promotion"], None),
    ],
)
def test_the_pending_gate_follows_the_canarys_progress(step_index, weight, passed, expected):
    raw_spec = copy.deepcopy(SPEC)
    raw_spec["rollout"]["webhooks"] = [
        {"type": "pre-rollout", "url": PRE},
        {"type": "confirm-promotion", "url": CONFIRM},
    ]
    status = _canary_status(step_index, weight, passed)
    assert pending_gate(parse_spec(raw_spec), status) == expected


def test_a_spec_without_webhooks_has_no_pending_gate():
    assert pending_gate(parse_spec(SPEC), _canary_status(0, 0, [])) is None


# --- the canary walked through the gates ----------------------------------------------------


def test_a_denying_pre_rollout_webhook_holds_the_canary_before_its_first_step():
    answers = Answers()
    answers.codes[PRE] = 503
    walk = gated_walk(answers, "pre-rollout")
    walk.start_canary()
    walk.ready("v2")
    walk.ticks(10)
    canary = walk.canary()
    assert (canary.step_index, canary.weight) == (0, 0)
    # No canary pod before the gate passes: with the replicas router any would take traffic.
    assert walk.replicas("iris-v2") == 0
    assert canary.gate.type == "pre-rollout" and canary.gate.state == "Held"
    assert canary.gate.message == f"pre-rollout gate held by {PRE}: HTTP 503"
    assert f"{PRE}: HTTP 503" in walk.condition("Reconciling").message
    held = [r for r, _ in walk.cluster.events() if r == "WebhookGateHeld"]
    assert len(held) == 1, "one Event when it starts holding, not one per tick"
    # The webhook learns what it gates.
    url, payload = answers.calls[-1]
    assert url == PRE
    assert payload["type"] == "pre-rollout" and payload["revision"] == "v2"
    assert payload["stableRevision"] == "v1" and payload["namespace"] == "ml"

    answers.codes[PRE] = 200
    walk.until(lambda: walk.canary().weight == 20)
    assert walk.canary().gates_passed == ["pre-rollout"]
    assert walk.canary().gate.state == "Passed"
    # Once passed, a later denial changes nothing.
    answers.codes[PRE] = 403
    walk.until(lambda: serving(walk), limit=60)
    assert walk.status().stable.revision == "v2"


def test_a_denying_confirm_promotion_webhook_holds_at_the_last_step_until_it_approves():
    answers = Answers()
    answers.codes[CONFIRM] = 403
    walk = gated_walk(answers, "confirm-promotion")
    walk.start_canary()
    walk.ready("v2")
    walk.until(lambda: walk.canary().gate is not None, limit=60)
    walk.ticks(20)  # far longer than the steps' pauses
    status = walk.status()
    assert status.phase == "Canary" and status.stable.revision == "v1"
    assert (status.canary.step_index, status.canary.weight) == (4, 50)
    assert status.canary.gate.state == "Held"
    assert status.canary.gate.message == f"confirm-promotion gate held by {CONFIRM}: HTTP 403"
    # The replicas router's split is the pod counts: held, the canary keeps its 50 % pods
    # (1 of 2) rather than scaling to all replicas for the promotion.
    assert (walk.replicas("iris-v1"), walk.replicas("iris-v2")) == (2, 1)

    answers.codes[CONFIRM] = 200
    walk.until(lambda: serving(walk), limit=30)
    assert walk.status().stable.revision == "v2"
    reasons = [r for r, _ in walk.cluster.events()]
    assert reasons.index("WebhookGateHeld") < reasons.index("WebhookGatePassed")


def test_abort_wins_over_a_held_gate():
    answers = Answers()
    answers.codes[CONFIRM] = 403
    walk = gated_walk(answers, "confirm-promotion")
    walk.start_canary()
    walk.ready("v2")
    walk.until(lambda: walk.canary().gate is not None, limit=60)
    walk.annotate(**{names.ANNOTATION_ABORT: "1"})
    walk.tick()
    assert walk.status().phase == "RolledBack"


def test_a_person_promoting_passes_the_gate_it_meets():
    answers = Answers()
    answers.codes[CONFIRM] = 403
    walk = gated_walk(answers, "confirm-promotion")
    walk.start_canary()
    walk.ready("v2")
    walk.until(lambda: walk.canary().gate is not None, limit=60)
    walk.annotate(**{names.ANNOTATION_PROMOTE: "1"})
    walk.until(lambda: serving(walk), limit=10)
    assert walk.status().stable.revision == "v2"


def test_a_webhook_outside_the_allowlist_stalls_naming_the_url_and_nothing_is_called():
    answers = Answers()
    checker = GateChecker(
        allowlist=ALLOWED.webhook_allowlist, caller=answers, submit=lambda fn, *a: fn(*a)
    )
    walk = Walk(settings=ALLOWED, gates=checker)
    walk.spec["rollout"]["webhooks"] = [{"type": "pre-rollout", "url": "http://169.254.169.254/x"}]
    walk.annotate(**{names.ANNOTATION_RETRAIN: "1"})
    walk.tick()
    stalled = walk.condition("Stalled")
    assert (stalled.status, stalled.reason) == ("True", "WebhookNotAllowed")
    assert "spec.rollout.webhooks[0].url 'http://169.254.169.254/x'" in stalled.message
    assert "MODELPILOT_WEBHOOK_ALLOWLIST" in stalled.message
    assert answers.calls == []
    assert any(r == "WebhookNotAllowed" for r, _ in walk.cluster.events())


# --- the spec and the allowlist ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("webhook", "error"),
    [
        ({"type": "pre-rollout", "url": "http://h/x", "timeout": "61s"}, "at most 60s"),
        ({"type": "pre-rollout", "url": "http://user:pw@h/x"}, "should match pattern"),
        ({"type": "pre-rollout", "url": "file:///etc/passwd"}, "should match pattern"),
        ({"type": "post-rollout", "url": "http://h/x"}, "pre-rollout"),
    ],
)
def test_a_bad_webhook_is_refused_naming_the_problem(webhook, error):
    raw = copy.deepcopy(SPEC)
    raw["rollout"]["webhooks"] = [webhook]
    with pytest.raises(ValueError, match=error):
        parse_spec(raw)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://hooks.ops/pre", True),
        ("http://hooks.ops/deep/path?x=1", True),
        ("http://hooks.ops.evil.example/pre", False),  # the pattern's "/" ends the host
        ("https://hooks.ops/pre", False),  # another scheme is another pattern
        ("http://hooks.ops@169.254.169.254/pre", False),  # credentials: never
        ("http://hooks.ops/pre#frag", False),
    ],
)
def test_the_allowlist_matches_whole_urls(url, allowed):
    assert url_allowed(url, ("http://hooks.ops/*",)) is allowed


def test_an_empty_allowlist_refuses_every_url():
    assert not url_allowed("http://hooks.ops/pre", ())


def test_a_notification_url_is_under_the_same_allowlist():
    raw = copy.deepcopy(SPEC)
    raw["notifications"] = [{"url": "http://hooks.ops/events"}, {"url": "http://10.0.0.1/x"}]
    refusal = webhook_refusal(parse_spec(raw), policy_of(ALLOWED))
    assert refusal is not None and refusal.reason == "WebhookNotAllowed"
    assert refusal.message.startswith("spec.notifications[1].url 'http://10.0.0.1/x' is not")
    raw["notifications"] = raw["notifications"][:1]
    assert webhook_refusal(parse_spec(raw), policy_of(ALLOWED)) is None


def test_the_operator_refuses_an_allowlist_entry_that_is_not_a_url():
    settings = load_settings({"MODELPILOT_WEBHOOK_ALLOWLIST": " https://a/* ,http://b:8080/*"})
    assert settings.webhook_allowlist == ("https://a/*", "http://b:8080/*")
    assert load_settings({}).webhook_allowlist == ()
    with pytest.raises(SettingsError, match=r"'hooks\.ops/\*' must start with http:// or https://"):
        load_settings({"MODELPILOT_WEBHOOK_ALLOWLIST": "hooks.ops/*"})
