"""Platform policy on the real control plane: values a model owner writes that would make the
operator act elsewhere (an image, a claim) are refused with Stalled, a message naming the
setting that allows them, and an Event, and nothing is created for them.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from kube import Kubectl, wait_for
from operator_harness import EXAMPLES

pytestmark = pytest.mark.e2e

IRIS = yaml.safe_load((EXAMPLES / "iris" / "iris.yaml").read_text())
STORE = yaml.safe_load((EXAMPLES / "iris" / "model-store.yaml").read_text())


def events(kubectl: Kubectl, namespace: str) -> list[dict]:
    return kubectl.json("get", "events", "-n", namespace)["items"]


def test_a_disallowed_image_stalls_with_the_setting_and_no_job(operator, story, kubectl, namespace):
    story.apply(EXAMPLES / "iris" / "model-store.yaml")
    doc = copy.deepcopy(IRIS)
    doc["spec"]["training"]["image"] = "evil.example/miner:latest"
    story.apply(doc)

    stalled = story.wait_condition("Stalled", reason="ImageNotAllowed")
    assert "spec.training.image 'evil.example/miner:latest'" in stalled["message"]
    assert "MODELPILOT_IMAGE_ALLOWLIST (Helm value policy.imageAllowlist)" in stalled["message"]
    assert story.status()["phase"] == "Failed"
    wait_for(
        lambda: any(e["reason"] == "ImageNotAllowed" for e in events(kubectl, namespace)),
        timeout=30,
        what="an ImageNotAllowed Event",
    )
    assert story.names("jobs") == []
    assert story.names("deployments") == []


def test_an_unlabelled_claim_is_refused_until_the_platform_labels_it(
    operator, story, kubectl, namespace
):
    unlabelled = copy.deepcopy(STORE)
    unlabelled["metadata"].pop("labels", None)
    story.apply(unlabelled)
    story.apply(IRIS)

    stalled = story.wait_condition("Stalled", reason="ModelStoreNotAllowed")
    assert "modelpilot.dev/model-store=true" in stalled["message"]
    assert "MODELPILOT_STORE_CLAIM_ALLOWLIST" in stalled["message"]
    assert story.names("jobs") == []

    kubectl("label", "pvc", "models", "-n", namespace, "modelpilot.dev/model-store=true")
    wait_for(lambda: story.names("jobs") == ["iris-train-v1"], timeout=60, what="training Job")
    assert story.condition("Stalled")["status"] == "False"
