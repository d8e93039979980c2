"""spec.serving.autoscaling on the real control plane: the operator creates the HPA for the
stable Deployment, and a replica count changed by the HPA (here: by hand, as the HPA would
set it; this cluster has no metrics-server) is left alone by the operator.

The operator runs as a subprocess (`python -m modelpilot.operator -n NAMESPACE`).
"""

from __future__ import annotations

import time

import pytest
from kube import Kubectl, wait_for
from operator_harness import EXAMPLES, OperatorProcess, Story

pytestmark = pytest.mark.e2e

EXAMPLE = EXAMPLES / "autoscaled"


def test_autoscaled_example_gets_an_hpa_whose_replicas_the_operator_leaves_alone(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    story = Story(kubectl, namespace)
    story.apply(EXAMPLE)
    kubectl(
        "wait", "--for=condition=Ready", "mdep/iris", "-n", namespace, "--timeout=180s", timeout=200
    )

    hpa = kubectl.json("get", "hpa", "iris", "-n", namespace)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "iris-v1",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert hpa["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"

    # The HPA decides 2 pods. The Deployment's change nudges the operator at once; give it
    # several ticks to (wrongly) reset it, and the pods time to come up.
    kubectl("scale", "deployment/iris-v1", "--replicas=2", "-n", namespace)
    wait_for(
        lambda: (
            len([p for p in story.serving_pods("v1") if not p["metadata"].get("deletionTimestamp")])
            == 2
        ),
        timeout=60,
        what="two serving pods",
    )
    time.sleep(8)
    deployment = kubectl.json("get", "deployment", "iris-v1", "-n", namespace)
    assert deployment["spec"]["replicas"] == 2, "the operator overwrote the HPA's replicas"
    story.wait_condition("Ready", timeout=90)
    assert "2/2 pods ready" in story.condition("Ready")["message"]
    assert "ScaleDeployment" not in operator.log()
