"""`modelpilot train --fingerprint-only` and the split by content of a watched dataset."""

from __future__ import annotations

import json
import os

import pandas as pd
from sklearn.datasets import load_iris

from modelpilot.api import names
from modelpilot.api.fingerprint import ENV_DATA_PREVIOUS, DataProbeReport
from modelpilot.api.metrics import Task
from modelpilot.api.spec import Dataset
from modelpilot.trainer.__main__ import main
from modelpilot.trainer.datasets import load_dataset
from modelpilot.trainer.splitting import split


def iris_csv(path, rows: int) -> None:
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "y"})
    frame.iloc[:rows].to_csv(path, index=False)


def env_for(path, log, previous: str | None = None) -> dict[str, str]:
    spec = {
        "training": {
            "dataset": {"uri": f"file://{path}", "target": "y", "watch": {"interval": "1m"}},
            "estimator": "sklearn.tree.DecisionTreeClassifier",
        },
        "evaluation": {"metric": "accuracy"},
    }
    env = {names.ENV_SPEC_JSON: json.dumps(spec), names.ENV_TERMINATION_LOG: str(log)}
    if previous:
        env[ENV_DATA_PREVIOUS] = previous
    return env


def test_fingerprint_matches_training_and_skips_hashing_when_signals_are_unchanged(tmp_path):
    data, log = tmp_path / "iris.csv", tmp_path / "termination"
    iris_csv(data, 120)
    assert main(["--fingerprint-only"], env_for(data, log)) == 0
    first = DataProbeReport.model_validate_json(log.read_text())
    trained = load_dataset(Dataset(uri=f"file://{data}", target="y")).sha256
    assert (first.fingerprint, first.hashed) == (trained, True)
    assert first.signals["size"] == str(os.path.getsize(data))

    assert main(["--fingerprint-only"], env_for(data, log, log.read_text())) == 0
    second = DataProbeReport.model_validate_json(log.read_text())
    assert (second.fingerprint, second.hashed) == (trained, False)

    iris_csv(data, 150)  # the file gains rows
    assert main(["--fingerprint-only"], env_for(data, log, log.read_text())) == 0
    third = DataProbeReport.model_validate_json(log.read_text())
    assert third.hashed and third.fingerprint != trained


def test_a_missing_dataset_is_a_failed_report_naming_it(tmp_path):
    log = tmp_path / "termination"
    assert main(["--fingerprint-only"], env_for(tmp_path / "gone.csv", log)) == 1
    report = DataProbeReport.model_validate_json(log.read_text())
    assert not report.ok and "gone.csv" in report.error


def test_rows_keep_their_side_when_the_data_grows(tmp_path):
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "y"})
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    frame.iloc[:120].to_csv(small, index=False)
    frame.sample(frac=1.0, random_state=1).to_csv(large, index=False)  # grown and reordered

    def holdout(path) -> set[tuple]:
        data = load_dataset(Dataset(uri=str(path), target="y"))
        parts = split(
            data, task=Task.CLASSIFICATION, test_size=0.3, random_state=0, by_content=True
        )
        rows = pd.concat([parts.x_holdout, parts.y_holdout], axis=1)
        return set(map(tuple, rows.to_numpy().tolist())), len(parts.x_train)

    before, _ = holdout(small)
    after, trained_rows = holdout(large)
    assert before and before <= after  # every old holdout row is still held out
    assert 0.15 < len(after) / 150 < 0.45 and trained_rows > 90
