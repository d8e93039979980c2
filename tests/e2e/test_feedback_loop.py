"""The loop closed with ground truth, on the real control plane (examples/feedback).

Given v1 serving with prediction logging on, when requests are answered and every one of
them is labelled wrong through POST /v2/models/iris/feedback, then Degraded turns True with
the live accuracy in status; `retrainOn: [Degraded]` starts v2, whose Job trains on iris plus
the labelled logged rows (read back from the Parquet files the pod wrote to the store); v2 is
another model (another digest), and it goes through the canary to promotion.
"""

from __future__ import annotations

import time

import httpx
import pytest
from canary_harness import LoadGenerator, service_targets
from kube import wait_for
from operator_harness import EXAMPLES, Story
from sklearn.datasets import load_iris

pytestmark = pytest.mark.e2e
LABELLED = 60


def test_wrong_labels_degrade_v1_and_the_retrain_on_them_is_promoted(operator, kubectl, namespace):
    story = Story(kubectl, namespace)
    story.apply(EXAMPLES / "feedback")
    story.wait_condition("Ready", timeout=240)
    v1 = story.status()["stable"]
    [pod] = story.serving_pods("v1")
    base = f"http://{pod['status']['podIP']}:8080/v2/models/iris"

    # Requests with their own ids (the OIP id) and without (the server makes one up).
    rows = load_iris().data
    wrong: dict[str, int] = {}
    with httpx.Client(timeout=10) as client:
        for i in range(LABELLED):
            row = rows[(i * 7) % len(rows)].tolist()
            body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": row}]}
            if i % 2:
                body["id"] = f"order-{i}"
            reply = client.post(f"{base}/infer", json=body)
            assert reply.status_code == 200, reply.text
            request_id = reply.headers["x-request-id"]
            assert reply.json()["id"] == request_id
            if i % 2:
                assert request_id == f"order-{i}"
            predicted = reply.json()["outputs"][0]["data"][0]
            wrong[request_id] = (predicted + 1) % 3

        unknown = client.post(f"{base}/feedback", json=[{"id": "never-served", "label": 0}])
        assert unknown.status_code == 404 and unknown.json()["ids"] == ["never-served"]
        bad = client.post(f"{base}/feedback", json=[{"id": "order-1", "label": 7}])
        assert bad.status_code == 422, bad.text
        labels = [{"id": i, "label": label} for i, label in wrong.items()]
        accepted = client.post(f"{base}/feedback", json=labels)
        assert accepted.json() == {"accepted": LABELLED, "rows": LABELLED}

    started = time.monotonic()
    degraded = story.wait_condition("Degraded", "True", timeout=30)
    print(f"Degraded=True {time.monotonic() - started:.1f}s after the labels")
    assert degraded["reason"] == "MetricPastThreshold"
    performance = story.status()["monitoring"]["performance"]
    assert performance["revision"] == "v1" and performance["metric"] == "accuracy"
    assert performance["value"] == 0.0 and performance["count"] == LABELLED
    assert story.condition("Ready")["status"] == "True"  # degraded, still serving

    # The pod wrote the requests and the labels to the store, as Parquet.
    logs = story.store_dir() / namespace / "iris" / story.mdep()["metadata"]["uid"] / "predictions"
    for kind in ("requests", "labels"):  # written within flushInterval (2 s)
        wait_for(lambda k=kind: list((logs / "v1").glob(f"{k}-*.parquet")), timeout=10, what=kind)

    candidate = wait_for(
        lambda: (lambda c: c if c.get("revision") == "v2" else None)(
            story.status().get("candidate") or {}
        ),
        timeout=30,
        what="a v2 revision",
    )
    assert candidate["trigger"] == "Degraded"

    def promoted_or_rejected() -> dict | None:
        status = story.status()
        if (status.get("stable") or {}).get("revision") == "v2":
            return status
        if status.get("phase") in ("Rejected", "Failed"):
            pytest.fail(f"v2 {status['phase']}: {status.get('candidate')}")
        return None

    # Traffic through Service iris while v2 canaries (the analysis needs requests).
    with LoadGenerator(service_targets(kubectl, namespace, "iris", "iris"), rate=20) as load:
        promoted = wait_for(promoted_or_rejected, timeout=300, what="v2 promoted")
    print(f"load during the canary: {load.summary()}")
    trained = kubectl("logs", "-n", namespace, "job/iris-train-v2", "-c", "trainer").stdout
    assert f"feedback: {LABELLED} labelled rows appended" in trained, trained
    v2 = promoted["stable"]
    assert v2["trigger"] == "Degraded"
    assert v2["modelSha256"] != v1["modelSha256"]
    assert v2["trainingDataSha256"] != v1["trainingDataSha256"]
    history = {h["revision"]: h for h in promoted["history"]}
    assert history["v2"]["outcome"] == "Promoted"
