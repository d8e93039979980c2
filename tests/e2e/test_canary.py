"""Canary stories on the real control plane with the replicas router: a better revision walks
its steps and is promoted, a slow one is rolled back by the live analysis while stable
answers every request, people promote and abort by hand, the operator is killed mid-canary,
and a new spec supersedes a canary.

A bounded load generator sends real predictions to the pods behind Service `iris` (read from
its EndpointSlices, as kube-proxy spreads them), so the analysis judges real traffic.
"""

from __future__ import annotations

import copy
import time
from collections import Counter

import pytest
from canary_harness import (
    CANARY,
    LoadGenerator,
    canary_status,
    endpoint_mix,
    run_cli,
    service_targets,
    wait_canary,
)
from kube import wait_for
from operator_harness import EXAMPLES, Story

# The operator these scenarios drive is the chart's, in-cluster from its image (conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.in_cluster_operator]


def canary_spec(*, replicas: int = 1, steps: list | None = None, **analysis: object) -> dict:
    doc = copy.deepcopy(CANARY)
    doc["spec"]["serving"]["replicas"] = replicas
    if steps is not None:
        doc["spec"]["rollout"]["steps"] = steps
    doc["spec"]["rollout"]["analysis"].update(analysis)
    return doc


def with_params(doc: dict, **params: object) -> dict:
    """The same ModelDeployment with other estimator params: a new revision."""
    doc = copy.deepcopy(doc)
    doc["spec"]["training"]["params"] = {**doc["spec"]["training"]["params"], **params}
    return doc


def serve_v1(story: Story, doc: dict) -> None:
    story.apply(EXAMPLES / "canary" / "model-store.yaml")
    story.apply(doc)
    story.wait_condition("Ready", timeout=240)


def test_better_revision_walks_20_50_and_is_promoted(operator, story, kubectl, namespace):
    """Scenario 1: the example, as is. EndpointSlices hold the expected mix at every step."""
    story.apply(EXAMPLES / "canary")
    story.wait_condition("Ready", timeout=240)
    assert endpoint_mix(kubectl, namespace, "iris", "iris") == Counter({"v1": 3})

    with LoadGenerator(service_targets(kubectl, namespace, "iris", "iris"), rate=40) as load:
        story.apply(with_params(CANARY, n_estimators=30))
        story.wait_phase("Canary", timeout=240)
        started = time.monotonic()

        at_20 = wait_canary(story, "weight 20", lambda c: c.get("weight") == 20)
        seen_20 = time.monotonic() - started
        assert at_20["stepIndex"] == 1 and at_20["actualWeight"] == 25  # 1 of 4 pods
        # Service iris selects both versions: 3 stable pods and 1 canary pod.
        wait_for(
            lambda: endpoint_mix(kubectl, namespace, "iris", "iris") == {"v1": 3, "v2": 1},
            timeout=30,
            what="3 v1 + 1 v2 endpoints",
        )
        at_50 = wait_canary(story, "weight 50", lambda c: c.get("weight") == 50)
        seen_50 = time.monotonic() - started
        assert at_50["actualWeight"] == 40  # 2 of 5 pods
        wait_for(
            lambda: endpoint_mix(kubectl, namespace, "iris", "iris") == {"v1": 3, "v2": 2},
            timeout=30,
            what="3 v1 + 2 v2 endpoints",
        )
        passed = [w for w in at_50["analysis"]["windows"] if w["verdict"] == "Passed"]
        assert passed and passed[0]["canaryRequests"] >= 10

        wait_for(
            lambda: story.status().get("stable", {}).get("revision") == "v2",
            timeout=120,
            what="v2 promoted",
        )
        promoted = time.monotonic() - started
        wait_for(
            lambda: endpoint_mix(kubectl, namespace, "iris", "iris") == {"v2": 3},
            timeout=60,
            what="only v2 endpoints",
        )
        time.sleep(1)

    print(f"load: {load.summary()}")
    print(
        f"canary started -> 20%: {seen_20:.1f}s, -> 50%: {seen_50:.1f}s, promoted {promoted:.1f}s"
    )
    assert load.failed("v1") == 0 and load.failed("v2") == 0, load.summary()
    assert load.served("v1") > 0 and load.served("v2") > 0
    status = story.status()
    assert status["phase"] == "Serving" and "canary" not in status
    assert story.condition("CanaryHealthy")["reason"] == "Promoted"
    wait_for(lambda: story.names("deployments") == ["iris-v2"], timeout=60, what="v1 removed")
    assert story.names("services") == ["iris", "iris-v2"]
    assert status["history"][0]["revision"] == "v2"
    assert status["history"][0]["outcome"] == "Promoted"


def test_slow_candidate_is_rolled_back_and_stable_answers_every_request(
    operator, story, kubectl, namespace, kube
):
    """Scenario 2: 3000 trees (~13 ms a row) against a 10 ms p99 limit."""
    doc = canary_spec(steps=[{"setWeight": 50}, {"pause": {"duration": "60s"}}], maxLatencyP99Ms=10)
    serve_v1(story, doc)
    with LoadGenerator(service_targets(kubectl, namespace, "iris", "iris"), rate=40) as load:
        time.sleep(2)
        story.apply(with_params(doc, n_estimators=3000))
        story.wait_phase("Canary", timeout=300)
        wait_canary(story, "weight 50", lambda c: c.get("weight") == 50)
        traffic = time.monotonic()
        story.wait_phase("RolledBack", timeout=90)
        reaction = time.monotonic() - traffic
        time.sleep(3)  # stable keeps answering after the rollback, too

    print(f"load: {load.summary()}; rollback {reaction:.1f}s after the canary took traffic")
    assert load.failed("v1") == 0, load.summary()
    assert load.served("v1") > 50 and load.served("v2") > 0
    healthy = story.condition("CanaryHealthy")
    assert healthy["status"] == "False" and healthy["reason"] == "AnalysisFailed"
    assert "p99" in healthy["message"] and "> 10 ms" in healthy["message"]
    assert story.condition("Ready")["status"] == "True"
    assert story.condition("Stalled")["status"] == "False"
    status = story.status()
    assert status["stable"]["revision"] == "v1"
    assert status["candidate"]["state"] == "RolledBack"
    assert status["canary"]["weight"] == 0 and status["canary"]["analysis"]["failures"] == 2
    wait_for(lambda: story.names("deployments") == ["iris-v1"], timeout=60, what="canary gone")
    wait_for(
        lambda: endpoint_mix(kubectl, namespace, "iris", "iris") == {"v1": 1},
        timeout=30,
        what="only v1 endpoints",
    )

    report = run_cli(kube, "status", "iris", "-n", namespace)
    assert report.returncode == 0, report.stderr
    print(report.stdout)
    assert "phase RolledBack" in report.stdout and "Failed" in report.stdout
    assert "p99" in report.stdout


def test_pause_waits_for_promote_and_abort_rolls_back_from_a_pause(
    operator, story, kubectl, namespace, kube
):
    """Scenario 3: `pause: {}` holds until `modelpilot promote`; `modelpilot abort` from a pause."""
    doc = canary_spec(steps=[{"setWeight": 50}, {"pause": {}}], minRequests=5)
    serve_v1(story, doc)
    refused = run_cli(kube, "promote", "iris", "-n", namespace)
    assert refused.returncode == 1 and "not in a canary" in refused.stdout

    with LoadGenerator(service_targets(kubectl, namespace, "iris", "iris"), rate=30) as load:
        story.apply(with_params(doc, n_estimators=25))
        paused = wait_canary(story, "paused", lambda c: c.get("paused"), timeout=300)
        assert paused["stepIndex"] == 1 and paused["weight"] == 50
        time.sleep(5)
        still = canary_status(story)
        assert still["paused"] and still["stepIndex"] == 1 and story.status()["phase"] == "Canary"

        promoted = run_cli(kube, "promote", "iris", "-n", namespace)
        assert promoted.returncode == 0, promoted.stderr
        wait_for(
            lambda: story.status().get("stable", {}).get("revision") == "v2",
            timeout=90,
            what="v2 promoted by hand",
        )

        story.apply(with_params(doc, n_estimators=26))
        wait_canary(
            story, "v3 paused", lambda c: c.get("revision") == "v3" and c.get("paused"), timeout=300
        )
        aborted = run_cli(kube, "abort", "iris", "-n", namespace)
        assert aborted.returncode == 0, aborted.stderr
        story.wait_phase("RolledBack", timeout=60)
        time.sleep(2)

    print(f"load: {load.summary()}")
    assert load.failed("v1") == 0 and load.failed("v2") == 0, load.summary()
    healthy = story.condition("CanaryHealthy")
    assert healthy["status"] == "False" and healthy["reason"] == "Aborted"
    assert story.condition("Ready")["status"] == "True"
    status = story.status()
    assert status["stable"]["revision"] == "v2" and status["candidate"]["revision"] == "v3"
    wait_for(lambda: story.names("deployments") == ["iris-v2"], timeout=60, what="v3 gone")


def test_operator_killed_mid_canary_resumes_at_the_same_step_and_weights(
    operator, story, kubectl, namespace
):
    """Scenario 5: SIGKILL during a pause, and right after a weight change."""
    doc = canary_spec(
        replicas=2,
        steps=[
            {"setWeight": 20},
            {"pause": {"duration": "10s"}},
            {"setWeight": 80},
            {"pause": {"duration": "3s"}},
        ],
        minRequests=5,
    )
    serve_v1(story, doc)
    with LoadGenerator(service_targets(kubectl, namespace, "iris", "iris"), rate=30) as load:
        story.apply(with_params(doc, n_estimators=25))
        in_pause = wait_canary(story, "the pause", lambda c: c.get("stepIndex") == 1, timeout=300)
        operator.kill()
        time.sleep(3)
        frozen = canary_status(story)
        assert frozen["stepStartedAt"] == in_pause["stepStartedAt"] and frozen["weight"] == 20
        operator.start()
        time.sleep(2)
        resumed = canary_status(story)
        # Same step, same start: the pause is not restarted by the restart.
        mix = endpoint_mix(kubectl, namespace, "iris", "iris")
        assert resumed["stepIndex"] in (1, 2, 3)
        if resumed["stepIndex"] == 1:
            assert resumed["stepStartedAt"] == in_pause["stepStartedAt"]
            assert resumed["weight"] == 20 and mix == {"v1": 2, "v2": 1}

        moved = wait_canary(story, "weight 80", lambda c: c.get("weight") == 80, timeout=60)
        operator.kill()  # right after the weight changed
        replicas = {
            d: kubectl.json("get", "deployment", d, "-n", namespace)["spec"]["replicas"]
            for d in ("iris-v1", "iris-v2")
        }
        operator.start()
        time.sleep(2)
        after = canary_status(story) or {}
        if story.status()["phase"] == "Canary":
            assert after["weight"] == 80 and after["stepIndex"] >= moved["stepIndex"]
        assert replicas == {"iris-v1": 2, "iris-v2": 2}

        wait_for(
            lambda: story.status().get("stable", {}).get("revision") == "v2",
            timeout=120,
            what="v2 promoted after two restarts",
        )

    print(f"load: {load.summary()}")
    assert load.failed("v1") == 0 and load.failed("v2") == 0, load.summary()
    status = story.status()
    assert status["revisionCounter"] == 2 and operator.starts == 3
    assert story.names("jobs") == ["iris-train-v1", "iris-train-v2"]
    wait_for(lambda: story.names("deployments") == ["iris-v2"], timeout=60, what="one Deployment")


def test_new_spec_mid_canary_supersedes_it(operator, story, kubectl, namespace, kube):
    """Scenario 6: weight back to stable, the old canary removed, the new revision as usual."""
    doc = canary_spec(steps=[{"setWeight": 50}, {"pause": {}}], minRequests=5)
    serve_v1(story, doc)
    with LoadGenerator(service_targets(kubectl, namespace, "iris", "iris"), rate=30) as load:
        story.apply(with_params(doc, n_estimators=25))
        wait_canary(story, "v2 paused", lambda c: c.get("paused"), timeout=300)
        wait_for(
            lambda: endpoint_mix(kubectl, namespace, "iris", "iris") == {"v1": 1, "v2": 1},
            timeout=30,
            what="1 v1 + 1 v2 endpoints",
        )

        story.apply(with_params(doc, n_estimators=27))
        wait_for(
            lambda: (story.status().get("candidate") or {}).get("revision") == "v3",
            timeout=60,
            what="v3 started",
        )
        status = story.status()
        assert status["history"][0]["revision"] == "v2"
        assert status["history"][0]["outcome"] == "Superseded"
        wait_for(lambda: "iris-v2" not in story.names("deployments"), timeout=60, what="v2 removed")
        selector = kubectl.json("get", "service", "iris", "-n", namespace)["spec"]["selector"]
        assert selector["modelpilot.dev/revision"] == "v1"

        wait_canary(
            story, "v3 paused", lambda c: c.get("revision") == "v3" and c.get("paused"), timeout=300
        )
        full = run_cli(kube, "promote", "iris", "--full", "-n", namespace)
        assert full.returncode == 0, full.stderr
        wait_for(
            lambda: story.status().get("stable", {}).get("revision") == "v3",
            timeout=90,
            what="v3 promoted",
        )
        time.sleep(1)

    print(f"load: {load.summary()}")
    assert load.failed("v1") == 0 and load.failed("v3") == 0, load.summary()
    wait_for(lambda: story.names("deployments") == ["iris-v3"], timeout=60, what="only v3")
