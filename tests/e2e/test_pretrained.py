"""A model trained elsewhere, on the real control plane (examples/pretrained, docs/pretrained.md).

The notebook's pipeline (examples/pretrained/train_elsewhere.py: a numeric and a text column
with gaps) and this year's data go onto the model-store claim the way a user puts them there:
a helper pod that mounts the claim, and `kubectl cp`. The ModelDeployment names the file and
its sha256; the trainer verifies it, evaluates it on the data and the operator serves it, and
the served model answers what the notebook's pipeline predicts, gaps included. Then a wrong
sha256 in the spec: the revision fails with PretrainedModelRefused naming both digests, and
v1 keeps serving. A sha256 that is not 64 hex characters is refused by `kubectl apply`.
"""

from __future__ import annotations

import copy
import hashlib
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import joblib
import pandas as pd
import pytest
import yaml
from kube import wait_for
from operator_harness import EXAMPLES, Story

from modelpilot.operator.settings import DEFAULT_TRAINER_IMAGE

pytestmark = pytest.mark.e2e
EXAMPLE = EXAMPLES / "pretrained"
HELPER = "store-helper"
UID = 65532


def jsonable(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def start_helper(story: Story, claim: str = "models") -> None:
    """A pod that mounts the claim and sleeps: what `kubectl cp` copies into."""
    story.kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": HELPER},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID},
                "containers": [
                    {
                        "name": "helper",
                        "image": DEFAULT_TRAINER_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sleep", "3600"],
                        "volumeMounts": [{"name": "store", "mountPath": "/models"}],
                    }
                ],
                "volumes": [{"name": "store", "persistentVolumeClaim": {"claimName": claim}}],
            },
        },
        story.namespace,
    )
    story.kubectl(
        "wait", "-n", story.namespace, "--for=condition=Ready", f"pod/{HELPER}",
        "--timeout=180s", timeout=200,
    )  # fmt: skip


def copy_in(story: Story, local: Path, remote: str) -> None:
    story.kubectl(
        "exec", "-n", story.namespace, HELPER, "--", "mkdir", "-p", str(Path(remote).parent)
    )
    story.kubectl("cp", str(local), f"{story.namespace}/{HELPER}:{remote}", timeout=120)


def predict(base: str, name: str, rows: pd.DataFrame) -> httpx.Response:
    objects = [
        {c: jsonable(v) for c, v in zip(rows.columns, row, strict=True)}
        for row in rows.itertuples(index=False)
    ]
    return httpx.post(f"{base}/v1/models/{name}:predict", json={"instances": objects}, timeout=10)


def test_a_notebooks_pipeline_is_verified_evaluated_and_served_and_a_wrong_digest_never_serves(
    operator, story, tmp_path
):
    # The notebook, as a user runs it: the example's own script writes the joblib file.
    model_file = tmp_path / "churn.joblib"
    printed = subprocess.run(
        [sys.executable, str(EXAMPLE / "train_elsewhere.py"), str(model_file)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert printed.split()[0] == digest  # what the user copies into the spec

    story.apply(EXAMPLE / "model-store.yaml")
    start_helper(story)
    copy_in(story, model_file, "/models/pretrained/churn.joblib")
    copy_in(story, EXAMPLE / "churn-2026.csv", "/models/data/churn-2026.csv")
    story.kubectl("delete", "pod", HELPER, "-n", story.namespace, "--wait=false")

    doc = yaml.safe_load((EXAMPLE / "churn.yaml").read_text())
    doc["spec"]["training"]["pretrained"]["sha256"] = digest
    story.name = doc["metadata"]["name"]
    story.apply(doc)
    story.wait_condition("Ready", timeout=300)

    stable = story.status()["stable"]
    assert stable["revision"] == "v1" and stable["score"] >= 0.7  # accuracy on the holdout
    bundle_digest = stable["modelSha256"]
    assert bundle_digest != digest  # the bundle is the trainer's own file, recorded as such

    service = story.kubectl.json("get", "service", story.name, "-n", story.namespace)
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] != "grpc")
    base = f"http://{service['spec']['clusterIP']}:{port}"
    frame = pd.read_csv(EXAMPLE / "churn-2026.csv")
    rows = frame[["tenure", "monthly", "plan", "region"]].iloc[:30]
    assert rows.isna().to_numpy().any(), "no gap among the rows served"
    notebook = joblib.load(model_file)
    expected = notebook.predict(rows).tolist()
    response = predict(base, story.name, rows)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected

    # A wrong digest (a newer file was meant, the spec kept an old one; or the file was
    # swapped on the claim): refused by name before it is unpickled, v1 keeps serving.
    wrong = copy.deepcopy(doc)
    wrong["spec"]["training"]["pretrained"]["sha256"] = "f" * 64
    story.apply(wrong)
    stalled = story.wait_condition("Stalled", timeout=240, reason="PretrainedModelRefused")
    assert f"has sha256 {digest}" in stalled["message"], stalled
    assert "refusing to unpickle it" in stalled["message"]
    trained = story.condition("Trained")
    assert (trained["status"], trained["reason"]) == ("False", "PretrainedModelRefused")
    status = story.status()
    assert status["candidate"]["revision"] == "v2"
    assert status["candidate"]["failureReason"] == "PretrainedModelRefused"
    assert (status["stable"]["revision"], status["stable"]["modelSha256"]) == ("v1", bundle_digest)
    assert story.condition("Ready")["status"] == "True"
    assert story.names("deployment") == [f"{story.name}-v1"]
    again = predict(base, story.name, rows)
    assert again.status_code == 200 and again.json()["predictions"] == expected
    assert again.headers.get("modelpilot-model-version") == "v1"

    # Not a digest at all: `kubectl apply` refuses it with the CRD's message.
    bad = copy.deepcopy(doc)
    bad["spec"]["training"]["pretrained"]["sha256"] = "sha256:" + digest[:20]
    refused = story.kubectl.apply(bad, story.namespace, check=False)
    assert refused.returncode != 0
    assert "spec.training.pretrained.sha256 must be a sha256 digest" in refused.stderr
    wait_for(
        lambda: story.mdep()["spec"]["training"]["pretrained"]["sha256"] == "f" * 64,
        timeout=5,
        what="the refused spec left the object as it was",
    )
