"""GateChecker: webhooks asked off the tick's thread, with a bounded timeout, against a real
HTTP server in this process (http.server on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelpilot.api.spec import RolloutWebhook, WebhookType
from modelpilot.operator.gates import GateChecker
from modelpilot.operator.rollout.world import GateAnswer

KEY = ("ml", "iris")


class Receiver:
    """Answers POST /CODE with that code; /slow sleeps first; /moved redirects to /200."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                path = self.path.strip("/")
                if path == "slow":
                    time.sleep(2)
                    path = "200"
                if path == "moved":
                    self.send_response(307)
                    self.send_header("Location", "/200")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(int(path))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def ask_until_answered(checker: GateChecker, hook: RolloutWebhook) -> GateAnswer:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answers = checker.answers(KEY, "v2", hook.type, [hook], {"revision": "v2"})
        if hook.url in answers:
            return answers[hook.url]
        time.sleep(0.02)
    raise AssertionError("no answer")


def hook(url: str, timeout: str = "5s") -> RolloutWebhook:
    return RolloutWebhook.model_validate(
        {"type": "confirm-promotion", "url": url, "timeout": timeout}
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("200", GateAnswer(True, "HTTP 200")),
        ("204", GateAnswer(True, "HTTP 204")),
        ("403", GateAnswer(False, "HTTP 403")),
        ("500", GateAnswer(False, "HTTP 500")),
        # An allowed URL must not lead elsewhere: a redirect is not followed, and not a 2xx.
        ("moved", GateAnswer(False, "HTTP 307")),
    ],
)
def test_only_a_2xx_answer_passes(receiver, path, expected):
    checker = GateChecker(allowlist=(receiver.url + "/*",))
    try:
        assert ask_until_answered(checker, hook(f"{receiver.url}/{path}")) == expected
    finally:
        checker.close()
    assert json.loads(receiver.bodies[0]) == {"revision": "v2"}


def test_a_slow_webhook_times_out_without_holding_the_tick(receiver):
    woken: list[tuple[str, str]] = []
    checker = GateChecker(allowlist=(receiver.url + "/*",), wake=woken.append)
    slow = hook(f"{receiver.url}/slow", timeout="300ms")
    try:
        started = time.monotonic()
        first = checker.answers(KEY, "v2", WebhookType.CONFIRM_PROMOTION, [slow], {})
        assert first == {}, "the tick gets what is known now, never waits for the call"
        assert time.monotonic() - started < 0.2
        answer = ask_until_answered(checker, slow)
    finally:
        checker.close()
    assert answer == GateAnswer(False, "no answer within 0.3s")
    assert woken == [KEY], "the ModelDeployment is woken when the answer arrives"


def test_a_refused_connection_holds_the_gate():
    checker = GateChecker(allowlist=("http://127.0.0.1:1/*",))
    try:
        answer = ask_until_answered(checker, hook("http://127.0.0.1:1/gate"))
    finally:
        checker.close()
    assert not answer.ok
    assert answer.detail.startswith("ConnectError")


def test_a_url_outside_the_allowlist_is_never_called(receiver):
    checker = GateChecker(allowlist=("https://hooks.example.com/*",))
    try:
        answer = ask_until_answered(checker, hook(f"{receiver.url}/200"))
    finally:
        checker.close()
    assert answer == GateAnswer(
        False, "not allowed by MODELPILOT_WEBHOOK_ALLOWLIST (Helm value policy.webhookAllowlist)"
    )
    assert receiver.bodies == []


def test_asked_again_only_after_the_recheck_interval_and_never_twice_at_once():
    calls: list[str] = []
    clock = [0.0]

    def caller(webhook: RolloutWebhook, payload: object) -> GateAnswer:
        calls.append(webhook.url)
        return GateAnswer(False, "HTTP 403")

    pending: list[tuple] = []
    checker = GateChecker(
        allowlist=("http://hooks/*",),
        caller=caller,
        recheck_seconds=5.0,
        clock=lambda: clock[0],
        submit=lambda fn, *args: pending.append((fn, args)),
    )
    gate = hook("http://hooks/confirm")
    checker.answers(KEY, "v2", gate.type, [gate], {})
    checker.answers(KEY, "v2", gate.type, [gate], {})
    assert len(pending) == 1, "one call in flight at a time"
    fn, args = pending.pop()
    fn(*args)
    assert checker.answers(KEY, "v2", gate.type, [gate], {}) == {
        gate.url: GateAnswer(False, "HTTP 403")
    }
    assert pending == [], "fresh: not asked again"
    clock[0] = 5.0
    checker.answers(KEY, "v2", gate.type, [gate], {})
    assert len(pending) == 1, "stale after the recheck interval: asked again"
    # A new revision's canary never sees the old one's answers.
    assert checker.answers(KEY, "v3", gate.type, [gate], {}) == {}
    checker.close()
