"""Rolling back without retraining, on the real control plane: v1 serves, v2 (other params)
is trained and promoted through the canary's steps, then `modelpilot rollback iris --to v1`
pins v1 — v1's recorded digest serves again, no Job is created, and a retrain asked for
meanwhile waits until the pin is removed (examples/rollback).
"""

from __future__ import annotations

import time

import httpx
import pytest
from canary_harness import run_cli
from kube import wait_for
from operator_harness import EXAMPLES, Story

pytestmark = pytest.mark.e2e
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def stable_is(story: Story, revision: str, timeout: float = 300) -> dict:
    return wait_for(
        lambda: (lambda s: s if (s.get("stable") or {}).get("revision") == revision else None)(
            story.status()
        ),
        timeout=timeout,
        what=f"{revision} stable",
    )


def test_pin_v1_serves_its_recorded_digest_again_without_a_job(operator, kubectl, namespace, kube):
    story = Story(kubectl, namespace)
    # Given v1 serving, and v2 trained and promoted through the canary's steps.
    story.apply(EXAMPLES / "rollback")
    story.wait_condition("Ready", timeout=240)
    v1 = stable_is(story, "v1")["stable"]
    # Other params, so v2 is another model (a retrain of the same spec and seed is the same).
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
    v2 = stable_is(story, "v2")["stable"]
    assert v2["modelSha256"] != v1["modelSha256"]
    jobs = story.names("jobs")
    assert jobs == ["iris-train-v1", "iris-train-v2"]

    # When a person rolls back to v1.
    done = run_cli(kube, "rollback", "iris", "--to", "v1", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert "pinned to v1" in done.stdout
    assert "commit spec.serving.pinRevision: v1 to Git too" in done.stdout

    # Then v1's recorded digest serves, through the canary, and nothing trained.
    status = stable_is(story, "v1", timeout=240)
    assert status["stable"]["modelSha256"] == v1["modelSha256"]
    assert status["stable"]["trigger"] == "Pinned"
    assert status["revisionCounter"] == 2
    top = status["history"][0]
    assert (top["revision"], top["outcome"], top["trigger"]) == ("v1", "Promoted", "Pinned")
    assert {h["revision"] for h in status["history"]} == {"v1", "v2"}
    story.wait_condition("Ready", timeout=120)
    wait_for(lambda: story.names("deployments") == ["iris-v1"], timeout=60, what="v2 removed")
    [pod] = story.serving_pods("v1")
    args = pod["spec"]["containers"][0]["args"]
    assert v1["modelSha256"] in args
    answer = httpx.post(
        f"http://{pod['status']['podIP']}:8080/v1/models/iris:predict",
        json={"instances": ROWS},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.headers["modelpilot-model-sha256"] == v1["modelSha256"]
    assert story.names("jobs") == jobs
    table = kubectl("get", "mdep", "iris", "-n", namespace).stdout.splitlines()
    at = table[0].index("PINNED")  # kubectl aligns columns: read the row at that offset
    assert table[1][at:].split()[0] == "v1", table
    assert "pinned: v1" in run_cli(kube, "status", "iris", "-n", namespace).stdout

    # A retrain asked for while pinned waits ...
    assert run_cli(kube, "retrain", "iris", "-n", namespace).returncode == 0
    time.sleep(5)
    assert story.names("jobs") == jobs
    assert story.status()["revisionCounter"] == 2
    # ... and starts once the pin is removed.
    cleared = run_cli(kube, "rollback", "iris", "--clear", "-n", namespace)
    assert cleared.returncode == 0 and "pin removed" in cleared.stdout
    wait_for(lambda: "iris-train-v3" in story.names("jobs"), timeout=60, what="v3's training Job")
    assert story.status()["candidate"]["trigger"] == "RetrainRequested"
