"""Gates and notifications on the real control plane (examples/experiments), with a real HTTP
receiver in this test process: the operator (a local process on this host) POSTs the
webhooks and the CloudEvents to it.

v1 serves directly; v2 (other params) passes the gate and starts as a canary; the pre-rollout
webhook approves, the confirm-promotion webhook answers 403, so v2 holds at its last step with
the reason in status.canary.gate and an Event; flipping the answer to 200 promotes v2. The
receiver saw every revision's events in the order they happened. A URL outside the allowlist
is refused: by the operator (Stalled=True, WebhookNotAllowed, naming it), and at `kubectl
apply` by the chart's ValidatingAdmissionPolicy.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from helm_harness import CHART
from kube import wait_for
from operator_harness import EXAMPLES, Story

pytestmark = pytest.mark.e2e
EXAMPLE = EXAMPLES / "experiments"
APPROVER = "http://approver.ops.svc.cluster.local:8080"
EVENTS = "http://events.ops.svc.cluster.local:8080/modelpilot"


class Receiver:
    """POST /pre-rollout and /confirm-promotion answer `codes[...]`; POST /events records the
    CloudEvent. Every request is recorded in arrival order."""

    def __init__(self) -> None:
        self.codes = {"pre-rollout": 200, "confirm-promotion": 200}
        self.calls: list[tuple[str, dict]] = []
        self.events: list[tuple[str, dict]] = []  # (Content-Type, body)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                path = self.path.strip("/")
                if path == "events":
                    receiver.events.append((self.headers["Content-Type"], body))
                    code = 202
                else:
                    receiver.calls.append((path, body))
                    code = receiver.codes[path]
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def seen(self) -> list[tuple[str, str]]:
        return [(e["data"]["event"], e["data"]["revision"]) for _, e in self.events]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def example_pointed_at(receiver: Receiver) -> dict:
    """examples/experiments' ModelDeployment with its URLs pointed at this test's receiver."""
    text = (EXAMPLE / "iris-experiments.yaml").read_text()
    text = text.replace(EVENTS, f"{receiver.url}/events").replace(APPROVER, receiver.url)
    return yaml.safe_load(text)


def canary_gate(story: Story) -> dict:
    return (story.status().get("canary") or {}).get("gate") or {}


def stable_is(story: Story, revision: str, timeout: float) -> dict:
    return wait_for(
        lambda: (lambda s: s if (s.get("stable") or {}).get("revision") == revision else None)(
            story.status()
        ),
        timeout=timeout,
        what=f"{revision} stable",
    )


def test_a_denying_confirm_promotion_webhook_holds_the_canary_and_events_arrive_in_order(
    operator, kubectl, namespace, receiver, k8s_bin: Path
):
    operator.stop()  # again, with the receiver allowed
    operator.extra_env["MODELPILOT_WEBHOOK_ALLOWLIST"] = f"{receiver.url}/*"
    operator.start()
    story = Story(kubectl, namespace)
    receiver.codes["confirm-promotion"] = 403

    # Given v1 serving (the first revision has no canary, so no gate).
    story.apply(EXAMPLE / "model-store.yaml")
    story.apply([example_pointed_at(receiver)])
    story.wait_condition("Ready", timeout=240)
    stable_is(story, "v1", timeout=30)

    # When v2 (other params: another model) passes the offline gate and starts as a canary.
    kubectl(
        "patch",
        "mdep",
        "iris",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"training":{"params":{"n_estimators":30,"random_state":0}}}}',
    )
    held = wait_for(
        lambda: (lambda g: g if g.get("type") == "confirm-promotion" else None)(canary_gate(story)),
        timeout=300,
        what="v2 at the confirm-promotion gate",
    )

    # Then it holds at its last step, with the reason in status and an Event.
    assert held["state"] == "Held", held
    assert held["message"] == (
        f"confirm-promotion gate held by {receiver.url}/confirm-promotion: HTTP 403"
    )
    asked = len([c for c in receiver.calls if c[0] == "confirm-promotion"])
    time.sleep(12)  # several analysis windows and recheck intervals
    status = story.status()
    assert status["phase"] == "Canary" and status["stable"]["revision"] == "v1"
    assert status["canary"]["stepIndex"] == 2 and status["canary"]["weight"] == 50
    assert status["canary"]["gatesPassed"] == ["pre-rollout"]
    assert receiver.codes["confirm-promotion"] == 403
    again = len([c for c in receiver.calls if c[0] == "confirm-promotion"])
    assert again > asked, "a held gate is asked again on later ticks"
    reconciling = story.condition("Reconciling")["message"]
    assert "HTTP 403" in reconciling and receiver.url in reconciling
    events = kubectl.json("get", "events", "-n", namespace)["items"]
    assert any(e["reason"] == "WebhookGateHeld" and "HTTP 403" in e["message"] for e in events), [
        e["reason"] for e in events
    ]
    pre = [body for path, body in receiver.calls if path == "pre-rollout"]
    assert pre and pre[0]["revision"] == "v2" and pre[0]["stableRevision"] == "v1"

    # When the webhook approves, v2 is promoted.
    approved_at = time.monotonic()
    receiver.codes["confirm-promotion"] = 200
    stable_is(story, "v2", timeout=120)
    print(f"promoted {time.monotonic() - approved_at:.1f}s after the approval")
    assert canary_gate(story) == {}, "the canary is over"

    # And the receiver saw every event, in order, as structured CloudEvents.
    expected = [
        ("Started", "v1"),
        ("GatePassed", "v1"),
        ("Promoted", "v1"),
        ("Started", "v2"),
        ("GatePassed", "v2"),
        ("CanaryStep", "v2"),
        ("Promoted", "v2"),
    ]
    wait_for(lambda: len(receiver.events) >= len(expected), timeout=30, what="the events")
    assert receiver.seen() == expected
    for content_type, event in receiver.events:
        assert content_type.startswith("application/cloudevents+json")
        assert event["specversion"] == "1.0"
        assert event["source"] == (
            f"/apis/modelpilot.dev/v1alpha1/namespaces/{namespace}/modeldeployments/iris"
        )
        assert event["type"] == "dev.modelpilot.modeldeployment." + event["data"]["event"].lower()
    assert len({e["id"] for _, e in receiver.events}) == len(receiver.events)


def test_a_url_outside_the_allowlist_is_refused_naming_it(
    operator, kubectl, namespace, receiver, k8s_bin: Path
):
    operator.stop()
    operator.extra_env["MODELPILOT_WEBHOOK_ALLOWLIST"] = f"{receiver.url}/*"
    operator.start()
    story = Story(kubectl, namespace)
    story.apply(EXAMPLE / "model-store.yaml")
    spec = example_pointed_at(receiver)
    # The CRD itself refuses a URL with credentials in it, whatever the allowlist says.
    bad = json.loads(json.dumps(spec))
    bad["spec"]["notifications"][0]["url"] = "http://user:pw@169.254.169.254/"
    refused = kubectl.apply([bad], namespace, check=False)
    assert refused.returncode != 0
    assert "spec.notifications[0].url" in refused.stderr, refused.stderr

    # The CRD refuses a header route on the replicas router, saying why.
    header = json.loads(json.dumps(spec))
    header["spec"]["rollout"]["steps"].insert(
        0,
        {
            "setHeaderRoute": {
                "name": "testers",
                "match": [{"headerName": "x-model-variant", "headerValue": {"exact": "canary"}}],
            }
        },
    )
    refused = kubectl.apply([header], namespace, check=False)
    assert refused.returncode != 0
    assert "cannot route a request by its headers" in refused.stderr, refused.stderr

    # And checks without the Prometheus they run against, or a gate that would wait too long.
    checks = json.loads(json.dumps(spec))
    checks["spec"]["rollout"]["analysis"]["metrics"] = [
        {"name": "budget", "query": "sum(up)", "thresholdRange": {"max": 1}}
    ]
    refused = kubectl.apply([checks], namespace, check=False)
    assert "metricsSource.prometheus.address" in refused.stderr, refused.stderr
    slow = json.loads(json.dumps(spec))
    slow["spec"]["rollout"]["webhooks"][0]["timeout"] = "2m"
    refused = kubectl.apply([slow], namespace, check=False)
    assert "timeout must be more than 0 and at most 60s" in refused.stderr, refused.stderr

    # The operator refuses an allowed-looking URL the allowlist does not match, naming it.
    elsewhere = "http://10.96.0.1:443/apis"
    spec["spec"]["notifications"][0]["url"] = elsewhere
    story.apply([spec])
    stalled = story.wait_condition("Stalled", timeout=60, reason="WebhookNotAllowed")
    assert f"spec.notifications[0].url '{elsewhere}'" in stalled["message"]
    assert "MODELPILOT_WEBHOOK_ALLOWLIST" in stalled["message"]
    assert story.names("jobs") == [], "nothing starts for a refused spec"
    assert receiver.events == []

    # The chart's admission policy refuses it at `kubectl apply`, naming it.
    rendered = subprocess.run(
        [
            str(k8s_bin / "helm"),
            "template",
            f"exp-{namespace}",
            str(CHART),
            "--api-versions",
            "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
            "--set",
            f"policy.webhookAllowlist={{{receiver.url}/*}}",
            "--show-only",
            "templates/webhook-allowlist-policy.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    policy = [d for d in yaml.safe_load_all(rendered) if d]
    assert [d["kind"] for d in policy] == [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    kubectl.apply(policy)
    try:
        spec["metadata"]["name"] = "other"

        def dry_run(obj: dict) -> subprocess.CompletedProcess[str]:
            # Admission runs in a server-side dry run too; nothing is created, nothing trains.
            return kubectl(
                "apply",
                "--dry-run=server",
                "-n",
                namespace,
                "-f",
                "-",
                stdin=yaml.safe_dump(obj),
                check=False,
            )

        def refused_at_apply() -> str | None:
            result = dry_run(spec)
            return None if result.returncode == 0 else result.stderr

        message = wait_for(refused_at_apply, timeout=30, what="the admission policy in force")
        assert elsewhere in message and "policy.webhookAllowlist" in message, message
        # An allowed spec still applies.
        spec["spec"]["notifications"][0]["url"] = f"{receiver.url}/events"
        allowed = dry_run(spec)
        assert allowed.returncode == 0, allowed.stderr
    finally:
        for obj in reversed(policy):
            kubectl("delete", obj["kind"], obj["metadata"]["name"], "--wait=false", check=False)
