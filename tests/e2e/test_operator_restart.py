"""The operator is killed (SIGKILL) at the worst moments and started again: it continues
where the status says it was, with exactly one Job and one Deployment per revision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kube import Kubectl, wait_for
from operator_harness import EXAMPLES, OperatorProcess, Story, install_crd

pytestmark = pytest.mark.e2e


@pytest.fixture
def operator(
    kubectl: Kubectl, namespace: str, kube: dict[str, str], tmp_path: Path
) -> Iterator[OperatorProcess]:
    install_crd(kubectl)
    process = OperatorProcess(namespace, kube, tmp_path / "operator.log")
    process.start()
    yield process
    process.stop()
    print(f"--- operator log ---\n{process.log()[-6000:]}")


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
