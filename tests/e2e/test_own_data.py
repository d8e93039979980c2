"""docs/own-data.md, run as written on the real control plane: the commands of its `sh` blocks
(tests/doc_commands.py reads them; a unit test checks them against the example files), in
order, in the test's namespace. A labelled dataset claim, a loader pod and `kubectl cp`, the
spec naming the claim, `kubectl apply`, `modelpilot wait` until it serves, and the page's own
V1 and V2 requests — a missing number and a missing category among them — answered as the
bundle's pipeline predicts.

Two departures, both about reaching the cluster rather than what the page says: every kubectl
and modelpilot command gets `-n NAMESPACE` after its verb, and the page's `kubectl
port-forward` is not run: the curl requests go to the Service's ClusterIP, which this machine
reaches directly, with the page's paths and bodies.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pandas as pd
import pytest
import yaml
from doc_commands import REPO, Command, commands
from kube import Kubectl

from modelpilot.api.bundle import load_bundle

pytestmark = pytest.mark.e2e


def _in_namespace(argv: tuple[str, ...], namespace: str) -> list[str]:
    """The command's arguments after the program, `-n NS` after the verb, and the repository's
    files (examples/...) by absolute path, as run from a clone's root."""
    verb, *rest = argv[1:]
    rest = [str(REPO / a) if a.startswith("examples/") else a for a in rest]
    return [verb, "-n", namespace, *rest]


def _run(command: Command, *, kubectl: Kubectl, kube: dict[str, str], namespace: str) -> None:
    if command.kind == "kubectl":
        result = kubectl(*_in_namespace(command.argv, namespace), check=False, timeout=300)
    else:  # modelpilot: the CLI as a person runs it
        result = subprocess.run(
            [sys.executable, "-m", "modelpilot.cli", *_in_namespace(command.argv, namespace)],
            env=kube,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    print(f"$ {' '.join(command.argv)}\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, f"{' '.join(command.argv)}: {result.stdout}{result.stderr}"


def test_the_own_data_walkthrough_runs_as_written_and_serves_gaps(
    operator, kubectl: Kubectl, kube: dict[str, str], namespace: str, story
):
    story.name = "churn"
    answers: dict[str, dict] = {}
    base = None
    for command in commands():
        if command.kind == "port-forward":
            continue  # the Service's ClusterIP is reachable from here (module docstring)
        if command.kind == "curl":
            if base is None:
                service = kubectl.json("get", "service", "churn", "-n", namespace)
                port = next(p["port"] for p in service["spec"]["ports"] if p["name"] != "grpc")
                base = f"http://{service['spec']['clusterIP']}:{port}"
            response = httpx.post(f"{base}{command.path}", json=command.body, timeout=30)
            assert response.status_code == 200, (command.path, response.text)
            answers[command.path or ""] = {"request": command.body, "response": response.json()}
            continue
        _run(command, kubectl=kubectl, kube=kube, namespace=namespace)

    # The trainer saw the dataset claim read-only, and the store as always.
    job = kubectl.json("get", "job", "churn-train-v1", "-n", namespace)
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["dataset"]["persistentVolumeClaim"] == {
        "claimName": "churn-data",
        "readOnly": True,
    }
    assert story.status()["verifiedDatasetClaim"] == "churn-data"

    # The page's requests, answered as the bundle's own pipeline predicts those rows.
    v1 = answers["/v1/models/churn:predict"]
    rows = pd.DataFrame(v1["request"]["instances"])
    assert rows.isna().any().tolist() == [True, False, True, False, False]  # gaps sent
    uid = story.mdep()["metadata"]["uid"]
    bundle = story.store_dir() / namespace / "churn" / uid / "v1"
    pipeline = load_bundle(bundle, story.status()["stable"]["modelSha256"]).model
    expected = pipeline.predict(rows).tolist()
    assert v1["response"]["predictions"] == expected
    v2 = answers["/v2/models/churn/infer"]["response"]
    assert v2["outputs"][0]["data"] == expected
    print(f"own-data: predictions {expected} for rows with gaps")


def test_a_model_store_is_refused_as_a_dataset_claim_naming_it(
    operator, kubectl: Kubectl, namespace: str, story
):
    story.apply(REPO / "examples" / "own-data" / "model-store.yaml")
    story.name = "churn"
    doc = yaml.safe_load((REPO / "examples" / "own-data" / "churn.yaml").read_text())
    doc["spec"]["training"]["dataset"]["pvc"]["claimName"] = "models"
    story.apply(doc)
    stalled = story.wait_condition("Stalled", reason="DatasetNotAllowed", timeout=60)
    assert "spec.training.dataset.pvc.claimName 'models' is a model store" in stalled["message"]
    assert story.names("job") == []
