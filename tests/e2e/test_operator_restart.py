"""The operator is killed (SIGKILL) at the worst moments and started again: it continues
where the status says it was, with exactly one Job and one Deployment per revision."""

from __future__ import annotations

import pytest
from kube import wait_for
from operator_harness import EXAMPLES, Story

# The operator these scenarios drive is the chart's, in-cluster from its image (conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.in_cluster_operator]


def test_killed_while_training_and_while_deploying_converges_without_duplicates(
    operator, kubectl, namespace
):
    story = Story(kubectl, namespace)
    story.apply(EXAMPLES / "iris")

    wait_for(lambda: story.names("jobs"), timeout=30, what="the training Job")
    operator.kill()  # mid-training
    assert story.status()["revisionCounter"] == 1
    operator.start()

    wait_for(lambda: story.names("deployments"), timeout=120, what="the serving Deployment")
    operator.kill()  # the Deployment exists, its pods are not Ready yet
    operator.start()

    story.wait_condition("Ready")
    status = story.status()
    assert status["phase"] == "Serving" and status["revisionCounter"] == 1
    assert story.names("jobs") == ["iris-train-v1"]
    assert story.names("deployments") == ["iris-v1"]
    assert len(story.serving_pods("v1")) == 1
    assert operator.starts == 3

    # A retrain across one more restart: still exactly one Job for v2.
    operator.kill()
    kubectl(
        "annotate",
        "mdep",
        "iris",
        "-n",
        namespace,
        "--overwrite",
        "modelpilot.dev/retrain-requested-at=restart-test",
    )
    operator.start()
    story.wait_phase("Serving", timeout=120)
    wait_for(
        lambda: story.status().get("stable", {}).get("revision") == "v2",
        timeout=120,
        what="v2 promoted",
    )
    story.wait_condition("Ready")
    assert story.names("jobs") == ["iris-train-v1", "iris-train-v2"]
    assert story.names("deployments") == ["iris-v2"]
