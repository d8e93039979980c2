"""examples/own-data as the trainer pod runs it: the CSV on the dataset claim (mounted at
MODELPILOT_DATASET_DIR), numbers and categories with gaps, trained and gated; and a data set
over the memory-derived limit refused with both sizes named, before any row is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from modelpilot.api import names

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "own-data"


def _spec() -> dict:
    doc = yaml.safe_load((EXAMPLE / "churn.yaml").read_text())
    return doc["spec"]


def test_the_own_data_example_trains_from_the_claim_and_passes_its_gate(train, monkeypatch):
    monkeypatch.setenv(names.ENV_DATASET_DIR, str(EXAMPLE))
    monkeypatch.setenv(names.ENV_MEMORY_LIMIT, str(2 * 1024**3))  # the default limit
    run = train(_spec())
    assert run.code == 0, run.stdout + run.stderr
    assert run.summary.ok and run.summary.verdict == "Passed", run.summary
    assert run.summary.candidate_score >= 0.7
    metadata = json.loads((run.output / "metadata.json").read_text())
    assert metadata["features"]["names"] == [
        "tenure_months",
        "monthly_fee",
        "contract",
        "region",
        "support_calls",
    ]


def test_a_data_set_over_the_limit_fails_the_run_naming_both_sizes(train, monkeypatch):
    monkeypatch.setenv(names.ENV_DATASET_DIR, str(EXAMPLE))
    monkeypatch.setenv(names.ENV_MEMORY_LIMIT, str(32 * 1024))  # an eighth: 4 KiB
    run = train(_spec())
    assert run.code != 0
    error = run.summary.error or ""
    assert "pvc://churn-data/churn.csv is 8.4 KiB" in error, error
    assert "4.0 KiB (an eighth of the trainer's memory limit of 32.0 KiB)" in error, error


@pytest.mark.parametrize("column", ["tenure_months", "monthly_fee", "contract", "region"])
def test_the_example_has_gaps_where_it_says(column):
    import pandas as pd

    frame = pd.read_csv(EXAMPLE / "churn.csv")
    assert frame[column].isna().any()
