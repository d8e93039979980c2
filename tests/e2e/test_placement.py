"""Placement on the real node: with the node tainted, a ModelDeployment whose pods tolerate
the taint trains and serves; one whose pods do not stays Pending, and its condition message
says why the scheduler left its pod unplaced.

The taint key is unique to the run and is removed in a finally, so a failed test never leaves
the node refusing the next module's pods.
"""

from __future__ import annotations

import copy
import uuid

import pytest
import yaml
from kube import Kubectl, wait_for
from operator_harness import EXAMPLES, Story

pytestmark = pytest.mark.e2e

IRIS = yaml.safe_load((EXAMPLES / "iris" / "iris.yaml").read_text())


def _named(name: str, pod: dict | None) -> dict:
    doc = copy.deepcopy(IRIS)
    doc["metadata"]["name"] = name
    if pod is not None:
        doc["spec"]["training"]["pod"] = pod
        doc["spec"]["serving"]["pod"] = pod
    return doc


def test_only_the_tolerating_model_is_scheduled_on_a_tainted_node(
    operator, kubectl: Kubectl, namespace: str
) -> None:
    (node,) = kubectl.json("get", "nodes")["items"]
    node_name = node["metadata"]["name"]
    key = f"e2e.modelpilot.dev/dedicated-{uuid.uuid4().hex[:6]}"
    taint = f"{key}=models:NoSchedule"
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "iris" / "model-store.yaml"))
    kubectl("taint", "nodes", node_name, taint)
    try:
        pod = {
            "tolerations": [
                {"key": key, "operator": "Equal", "value": "models", "effect": "NoSchedule"}
            ],
            "labels": {"team": "placement-e2e"},
        }
        kubectl.apply([_named("tolerant", pod), _named("blocked", None)], namespace)
        tolerant = Story(kubectl, namespace, name="tolerant")
        blocked = Story(kubectl, namespace, name="blocked")

        pending = blocked.wait_condition("Reconciling", reason="TrainingPending", timeout=90)
        # The scheduler's own words (it names no taint key since 1.2x, only the reason).
        assert "unschedulable" in pending["message"], pending["message"]
        assert "untolerated taint" in pending["message"], pending["message"]

        tolerant.wait_condition("Ready", timeout=240)
        (serving,) = tolerant.serving_pods("v1")
        assert serving["spec"]["nodeName"] == node_name
        assert pod["tolerations"][0] in serving["spec"]["tolerations"]
        assert serving["metadata"]["labels"]["team"] == "placement-e2e"

        # Still held back by the taint, and still saying so.
        assert blocked.status().get("stable") is None
        assert "untolerated taint" in blocked.condition("Reconciling")["message"]
    finally:
        kubectl("taint", "nodes", node_name, f"{key}-", check=False)
    assert not any(
        t["key"] == key for t in kubectl.json("get", "node", node_name)["spec"].get("taints") or []
    )
    # Untainted, the blocked model trains after all: nothing was left stuck.
    wait_for(
        lambda: (
            Story(kubectl, namespace, name="blocked").condition("Reconciling").get("reason")
            != "TrainingPending"
        ),
        timeout=90,
        what="blocked's training pod scheduled once the taint is gone",
    )
