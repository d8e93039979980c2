"""Datasets: every bundled one trains; CSV/Parquet from paths and fsspec URIs; data errors."""

from __future__ import annotations

import re

import fsspec
import numpy as np
import pandas as pd
import pytest

from modelpilot.api.bundle import load_bundle
from modelpilot.api.spec import Dataset
from modelpilot.trainer.datasets import BUILTIN, load_dataset
from modelpilot.trainer.errors import DataError, SpecError

CLASSIFIER = ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 10})
REGRESSOR = ("sklearn.linear_model.Ridge", {})


@pytest.mark.parametrize(
    ("builtin", "target", "estimator", "metric"),
    [
        ("iris", None, CLASSIFIER, "accuracy"),
        ("wine", None, CLASSIFIER, "f1_macro"),
        ("breast_cancer", None, CLASSIFIER, "roc_auc"),
        ("digits", None, CLASSIFIER, "balanced_accuracy"),
        ("diabetes", None, REGRESSOR, "r2"),
        ("linnerud", "Weight", REGRESSOR, "rmse"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_every_bundled_dataset_trains(train, builtin, target, estimator, metric):
    dataset = {"builtin": builtin} | ({"target": target} if target else {})
    spec = {
        "training": {"dataset": dataset, "estimator": estimator[0], "params": estimator[1]},
        "evaluation": {"metric": metric},
    }
    run = train(spec)
    assert run.code == 0, run.stderr
    assert run.summary.metric == metric and run.summary.candidate_score is not None
    bundle = load_bundle(run.output, run.summary.model_sha256)
    assert bundle.metadata.features.count > 0


def test_the_builtin_list_matches_what_the_crd_documents():
    assert set(BUILTIN) == {"iris", "wine", "breast_cancer", "diabetes", "digits", "linnerud"}


def test_a_multi_target_builtin_needs_a_named_target():
    with pytest.raises(DataError, match=r"several targets.*Weight"):
        load_dataset(Dataset(builtin="linnerud"))


def test_an_unknown_builtin_is_a_spec_error_listing_the_known_ones():
    with pytest.raises(SpecError, match=r"'irises'.*breast_cancer, diabetes"):
        load_dataset(Dataset(builtin="irises"))


def _frame(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    return pd.DataFrame(
        {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": (x[:, 0] + x[:, 1] > 0).astype(int)}
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("form", ["path", "file-uri"])
def test_csv_and_parquet_load_from_a_path_or_file_uri(tmp_path, fmt, form):
    path = tmp_path / f"data.{fmt}"
    frame = _frame()
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path, index=False)
    uri = str(path) if form == "path" else f"file://{path}"
    data = load_dataset(Dataset(uri=uri, target="label"))
    assert list(data.features.columns) == ["a", "b", "c"]
    assert data.rows == 120 and data.target.name == "label"
    np.testing.assert_allclose(data.features["a"].to_numpy(), frame["a"].to_numpy())


def test_an_fsspec_uri_is_read_through_fsspec():
    with fsspec.open("memory://bucket/train.csv", "w") as handle:
        _frame().to_csv(handle, index=False)
    data = load_dataset(
        Dataset(uri="memory://bucket/train.csv", target="label", features=["a", "b"])
    )
    assert list(data.features.columns) == ["a", "b"]


def test_the_fingerprint_is_stable_and_changes_with_the_data(tmp_path):
    path = tmp_path / "d.csv"
    _frame().to_csv(path, index=False)
    first = load_dataset(Dataset(uri=str(path), target="label")).sha256
    assert load_dataset(Dataset(uri=str(path), target="label")).sha256 == first
    changed = _frame()
    changed.loc[3, "a"] = 99.0
    changed.to_csv(path, index=False)
    assert load_dataset(Dataset(uri=str(path), target="label")).sha256 != first


def _spec(uri: str, **dataset) -> dict:
    return {
        "training": {
            "dataset": {"uri": uri, "target": "label", **dataset},
            "estimator": "sklearn.linear_model.LogisticRegression",
        },
        "evaluation": {"metric": "accuracy"},
    }


def _data_case(tmp_path, name: str):
    """Write the CSV for one bad-data case; return (uri, extra dataset fields)."""
    path = tmp_path / f"{name}.csv"
    frame = _frame()
    extra: dict = {}
    if name == "missing-target":
        frame = frame.drop(columns="label")
    elif name == "nan-in-target":
        frame["label"] = frame["label"].astype(float)
        frame.loc[[5, 7], "label"] = np.nan
    elif name == "non-numeric-feature":
        frame["colour"] = ["red", "green"] * 60
    elif name == "empty-rows":
        frame = frame.iloc[:0]
    elif name == "missing-feature":
        extra = {"features": ["a", "nope"]}
    elif name == "continuous-target-for-classifier":
        frame["label"] = frame["a"] * 1.5
    elif name == "single-class":
        frame["label"] = 1
    elif name == "class-with-one-member":
        frame.loc[0, "label"] = 7
    elif name == "unknown-format":
        path = tmp_path / "data.txt"
    frame.to_csv(path, index=False)
    if name == "empty-file":
        path.write_text("")
    if name == "missing-file":
        path = tmp_path / "absent.csv"
    return str(path), extra


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-target", "target column 'label' is not in .*columns: a, b, c"),
        ("nan-in-target", "target column 'label' has 2 missing"),
        ("non-numeric-feature", "feature column 'colour' is not numeric.*OneHotEncoder"),
        ("empty-rows", "has no rows"),
        ("empty-file", "is empty"),
        ("missing-file", "absent.csv does not exist"),
        ("missing-feature", "feature column\\(s\\) 'nope' not in"),
        ("continuous-target-for-classifier", "'label' holds continuous values.*regressor"),
        ("single-class", "'label' has a single class"),
        ("class-with-one-member", "cannot split 120 rows.*'label'"),
        ("unknown-format", "cannot tell the format.*dataset.format"),
    ],
)
def test_bad_data_exits_3_naming_the_column(train, tmp_path, case, message):
    uri, extra = _data_case(tmp_path, case)
    run = train(_spec(uri, **extra))
    assert run.code == 3, run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("modelpilot train: data error:")
    assert re.search(message, run.stderr), run.stderr
    assert not run.summary.ok and run.summary.exit_code == 3
    assert run.summary.error and "data error" in run.summary.error
    assert not run.output.exists()
