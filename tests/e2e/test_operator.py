"""The operator's stories on the real control plane: apply a ModelDeployment with kubectl,
and a real Job trains, the gate decides, a real Deployment serves, conditions tell the truth.

The operator runs as a subprocess (`python -m modelpilot.operator -n NAMESPACE`) with the
admin kubeconfig; pods run on the local node (kubelet + containerd).
"""

from __future__ import annotations

import copy

import pytest
import yaml
from kube import wait_for
from operator_harness import EXAMPLES, post_json

from modelpilot.api.bundle import load_bundle

# The operator these scenarios drive is the chart's, in-cluster from its image (conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.in_cluster_operator]

IRIS = yaml.safe_load((EXAMPLES / "iris" / "iris.yaml").read_text())
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def iris(**changes: dict) -> dict:
    """The iris example with parts of its spec replaced (shallow per section)."""
    doc = copy.deepcopy(IRIS)
    for section, values in changes.items():
        doc["spec"][section] = {**doc["spec"].get(section, {}), **values}
    return doc


def test_iris_example_trains_serves_and_reports_ready(operator, story, kubectl, namespace):
    story.apply(EXAMPLES / "iris")
    kubectl("wait", "--for=condition=Ready", "mdep/iris", "-n", namespace, "--timeout=120s")

    status = story.status()
    assert status["phase"] == "Serving"
    assert status["stable"]["revision"] == "v1"
    assert status["observedGeneration"] == story.mdep()["metadata"]["generation"]
    assert story.names("jobs") == ["iris-train-v1"]
    assert story.names("deployments") == ["iris-v1"]
    assert story.names("services") == ["iris", "iris-v1"]
    for ctype, value in [
        ("Reconciling", "False"),
        ("Stalled", "False"),
        ("Trained", "True"),
        ("Evaluated", "True"),
    ]:
        assert story.condition(ctype)["status"] == value, ctype

    # The served model is the bundle the Job wrote, byte for byte (digest) and in behaviour.
    sha = status["stable"]["modelSha256"]
    uid = story.mdep()["metadata"]["uid"]
    bundle = load_bundle(story.store_dir() / namespace / "iris" / uid / "v1", sha)
    import pandas as pd

    frame = pd.DataFrame(ROWS, columns=bundle.metadata.features.names)
    expected = bundle.model.predict(frame).tolist()
    [pod] = story.serving_pods("v1")
    ip = pod["status"]["podIP"]
    code, v1 = post_json(f"http://{ip}:8080/v1/models/iris:predict", {"instances": ROWS})
    assert code == 200 and v1["predictions"] == expected
    code, v2 = post_json(
        f"http://{ip}:8080/v2/models/iris/infer",
        {"inputs": [{"name": "input-0", "shape": [3, 4], "datatype": "FP64", "data": ROWS}]},
    )
    assert code == 200 and v2["outputs"][0]["data"] == expected

    # The serving pod is locked down as the issue asks.
    spec = kubectl.json("get", "deployment", "iris-v1", "-n", namespace)["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert spec["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # Only its own bundle, read-only.
    v1_dir = f"{namespace}/iris/{uid}/v1"
    assert {
        "name": "model-store",
        "mountPath": f"/models/{v1_dir}",
        "subPath": v1_dir,
        "readOnly": True,
    } in container["volumeMounts"]
    assert "--expected-sha256" in container["args"] and sha in container["args"]

    table = kubectl("get", "mdep", "-n", namespace).stdout
    header, row = table.splitlines()[:2]
    assert header.split() == [
        "NAME",
        "PHASE",
        "READY",
        "STABLE",
        "CANDIDATE",
        "WEIGHT",
        "PINNED",
        "METRIC",
        "SCORE",
        "AGE",
    ]
    assert row.split()[:4] == ["iris", "Serving", "True", "v1"]


def test_unreachable_threshold_is_evaluated_false_with_scores_and_nothing_serves(operator, story):
    story.apply(EXAMPLES / "iris" / "model-store.yaml")
    story.apply(
        iris(
            training={"estimator": "sklearn.dummy.DummyClassifier", "params": {}},
            evaluation={"threshold": 0.9},
        )
    )
    evaluated = story.wait_condition("Evaluated", "False")
    assert evaluated["reason"] == "BelowThreshold"
    assert "misses the threshold 0.9000" in evaluated["message"]
    assert story.status()["phase"] == "Rejected"
    assert story.condition("Stalled")["reason"] == "NoModelPassed"
    assert story.condition("Ready")["status"] == "False"
    assert story.names("deployments") == []


def test_worse_second_revision_is_rejected_and_stable_keeps_serving(operator, story, namespace):
    story.apply(EXAMPLES / "iris")
    story.wait_condition("Ready")
    # Same gate threshold, a model that cannot beat the forest on the same holdout.
    story.apply(
        iris(
            training={"estimator": "sklearn.dummy.DummyClassifier", "params": {}},
            evaluation={"threshold": 0.1},
        )
    )
    evaluated = story.wait_condition("Evaluated", "False", reason="WorseThanStable")
    assert "worse than stable" in evaluated["message"]
    status = story.status()
    assert status["phase"] == "Rejected"
    assert status["stable"]["revision"] == "v1"
    assert status["candidate"]["revision"] == "v2"
    assert status["candidate"]["stableScore"] > status["candidate"]["candidateScore"]
    assert story.condition("Ready")["status"] == "True"
    assert story.condition("Stalled")["status"] == "False"
    assert story.names("deployments") == ["iris-v1"]


def test_refused_estimator_and_missing_column_have_clear_conditions_and_recover(
    operator, story, namespace
):
    story.apply(EXAMPLES / "iris" / "model-store.yaml")
    story.apply(iris(training={"estimator": "xgboost.XGBClassifier", "params": {}}))
    stalled = story.wait_condition("Stalled", reason="EstimatorNotAllowed")
    assert "xgboost.XGBClassifier" in stalled["message"]
    assert story.names("jobs") == []

    store = story.store_dir()
    (store / "data").mkdir(exist_ok=True)
    rows = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    rows += [f"{a},{b},{c},{d},{i % 3}" for i, (a, b, c, d) in enumerate(ROWS * 20)]
    (store / "data" / "flowers.csv").write_text("\n".join(rows) + "\n")
    story.apply(iris(training={"dataset": {"uri": "/models/data/flowers.csv", "target": "label"}}))
    stalled = story.wait_condition("Stalled", reason="TrainingFailed")
    assert "label" in stalled["message"]
    assert story.condition("Trained")["status"] == "False"

    story.apply(IRIS)
    story.wait_condition("Ready")
    assert story.condition("Stalled")["status"] == "False"
    assert story.status()["stable"]["revision"] == "v2"


def test_deleting_the_model_deployment_removes_what_it_owns(operator, story, kubectl, namespace):
    story.apply(EXAMPLES / "iris")
    story.wait_condition("Ready")
    kubectl("delete", "mdep", "iris", "-n", namespace, "--wait=true", "--timeout=60s")
    for kind in ("jobs", "deployments", "services", "pods"):
        wait_for(lambda kind=kind: story.names(kind) == [], timeout=60, what=f"{kind} gone")
