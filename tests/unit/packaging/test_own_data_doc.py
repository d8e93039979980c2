"""docs/own-data.md agrees with examples/own-data and the API: the commands the e2e test runs
(tests/e2e/test_own_data.py reads the same `sh` blocks through tests/doc_commands.py) name files
that exist, the YAML they apply is valid (the ModelDeployment through the API's own parser),
the file copied lands where the spec reads it, and the prediction requests carry the data's
own features with a missing number and a missing category."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from doc_commands import OWN_DATA, REPO, commands, parse

from modelpilot.api import names
from modelpilot.api.spec import parse_spec

EXAMPLE = REPO / "examples" / "own-data"


def _applied() -> list[Path]:
    out = []
    for c in commands():
        if c.argv[:2] == ("kubectl", "apply"):
            out.append(REPO / c.argv[c.argv.index("-f") + 1])
    return out


def _docs(kind: str) -> list[dict]:
    found = []
    for path in _applied():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == kind:
                found.append(doc)
    return found


def _spec() -> dict:
    [doc] = _docs("ModelDeployment")
    return doc["spec"]


def test_every_command_is_one_the_e2e_test_runs_in_the_walkthroughs_order():
    kinds = [(c.kind, c.argv[1]) for c in commands()]
    assert kinds == [
        ("kubectl", "apply"),
        ("kubectl", "apply"),
        ("kubectl", "wait"),
        ("kubectl", "cp"),
        ("kubectl", "exec"),
        ("kubectl", "delete"),
        ("kubectl", "apply"),
        ("kubectl", "apply"),
        ("modelpilot", "wait"),
        ("kubectl", "get"),
        ("port-forward", "port-forward"),
        ("curl", "-s"),
        ("curl", "-s"),
    ]
    with pytest.raises(ValueError, match="no test runs"):
        parse("helm install x y")


def test_the_applied_files_exist_and_the_model_deployment_is_valid():
    assert all(p.is_file() for p in _applied()), _applied()
    spec = parse_spec(_spec())
    assert spec.training.dataset.pvc is not None


def test_the_dataset_claim_is_labelled_and_is_not_the_store():
    spec = parse_spec(_spec())
    claims = {c["metadata"]["name"]: c for c in _docs("PersistentVolumeClaim")}
    assert spec.training.dataset.pvc is not None and spec.model_store is not None
    data = claims[spec.training.dataset.pvc.claim_name]
    assert data["metadata"]["labels"] == {names.LABEL_DATASET: "true"}
    store = claims[spec.model_store.pvc.claim_name]  # type: ignore[union-attr]
    assert store["metadata"]["labels"] == {names.LABEL_MODEL_STORE: "true"}


def test_the_copied_file_lands_where_the_spec_reads_it():
    spec = parse_spec(_spec())
    [loader] = _docs("Pod")
    [copy] = [c for c in commands() if c.argv[:2] == ("kubectl", "cp")]
    source, destination = copy.argv[2], copy.argv[3]
    assert (REPO / source).is_file()
    pod, _, path = destination.partition(":")
    assert pod == loader["metadata"]["name"]
    [mount] = loader["spec"]["containers"][0]["volumeMounts"]
    [volume] = loader["spec"]["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == spec.training.dataset.pvc.claim_name
    assert path == f"{mount['mountPath']}/{spec.training.dataset.pvc.path}"


def test_the_pages_yaml_fragment_is_the_examples_spec():
    fragment = yaml.safe_load(
        re.search(r"^```yaml\n(.*?)^```", OWN_DATA.read_text(), re.M | re.S).group(1)
    )["spec"]
    spec = _spec()
    for section, values in fragment.items():
        for key, value in values.items():
            assert spec[section][key] == value, f"spec.{section}.{key}"


def test_the_predictions_send_the_datas_features_with_a_missing_number_and_category():
    spec = _spec()
    frame = pd.read_csv(EXAMPLE / "churn.csv")
    features = [c for c in frame.columns if c != spec["training"]["dataset"]["target"]]
    curls = [c for c in commands() if c.kind == "curl"]
    v1 = next(c for c in curls if c.path == "/v1/models/churn:predict")
    rows = v1.body["instances"]
    assert all(list(r) == features for r in rows)
    gaps = {k for r in rows for k, v in r.items() if v is None}
    assert {"tenure_months", "contract"} <= gaps  # a number and a category
    v2 = next(c for c in curls if c.path == "/v2/models/churn/infer")
    assert [t["name"] for t in v2.body["inputs"]] == features
    assert [r[f] for r in rows for f in features] == [
        t["data"][i] for i in range(len(rows)) for t in v2.body["inputs"]
    ]
