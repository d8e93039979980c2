"""examples/tabular and examples/regression, without a cluster: the trainer on each example's
own spec and data file (the claim's path rewritten to the repository's), then the server on
the bundle, answering V1 objects with missing values as the fitted pipeline does. The e2e
walk (kubectl apply to a canary) is tests/e2e/test_tabular_examples.py; this keeps the
examples from rotting between e2e runs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import joblib
import pandas as pd
import pytest
import yaml
from serving_helpers import running

from modelpilot.api.bundle import MODEL_FILE, read_metadata
from modelpilot.serving.settings import Settings
from modelpilot.trainer.__main__ import main as train_main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
CASES = {
    # example folder: (spec file, data file, expected accepts_missing per feature)
    "tabular": ("customers.yaml", "customers.csv", [True] * 5),
    "regression": ("flats.yaml", "flats.parquet", [False, False, True, False]),
}


def read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@pytest.mark.parametrize("example", list(CASES))
def test_the_example_trains_and_serves_its_own_data(example, tmp_path):
    spec_name, data_name, accepts = CASES[example]
    mdep = yaml.safe_load((EXAMPLES / example / spec_name).read_text())
    data = EXAMPLES / example / data_name
    dataset = mdep["spec"]["training"]["dataset"]
    assert dataset["uri"] == f"file:///models/data/{data_name}"  # where the docs put it
    dataset["uri"] = f"file://{data}"
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(mdep["spec"]))
    out = tmp_path / "store" / "ml" / mdep["metadata"]["name"] / "v1"
    code = train_main(
        [
            "--spec",
            str(spec_file),
            "--output",
            str(out),
            "--termination-log",
            str(tmp_path / "log"),
        ],
        {},
    )
    assert code == 0, (tmp_path / "log").read_text()
    metadata = read_metadata(out)
    assert metadata.evaluation is not None and metadata.evaluation.verdict == "Passed"
    assert metadata.features.accepts_missing == accepts

    frame = read(data)
    features = metadata.features.names
    rows = frame[features].iloc[:40]
    assert rows.isna().any().any() or example == "regression"
    expected = joblib.load(out / MODEL_FILE).predict(rows).tolist()
    instances = [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in rows.to_dict(orient="records")
    ]
    name = mdep["metadata"]["name"]
    settings = Settings(
        model_dir=str(out),
        model_name=name,
        expected_sha256=metadata.model_sha256,
        drain_seconds=0.0,
    )
    with running(settings) as (url, _):
        response = httpx.post(f"{url}/v1/models/{name}:predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == pytest.approx(expected)
