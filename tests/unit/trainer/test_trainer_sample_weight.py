"""spec.training.sampleWeight: a column of per-row weights, used in fitting and in every
metric of the gate (candidate and stable alike), never a feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as m
from sklearn.datasets import load_breast_cancer, load_diabetes

from modelpilot.api.bundle import load_bundle, read_metadata
from modelpilot.api.spec import Dataset
from modelpilot.trainer.datasets import load_dataset
from modelpilot.trainer.errors import DataError
from modelpilot.trainer.evaluation import label_metrics


def _spec(
    csv,
    estimator="sklearn.linear_model.LogisticRegression",
    params=None,
    metric="accuracy",
    **training,
) -> dict:
    return {
        "training": {
            "dataset": {"uri": f"file://{csv}", "target": "target"},
            "estimator": estimator,
            "params": {"max_iter": 5000} if params is None else params,
            **training,
        },
        "evaluation": {"metric": metric},
    }


@pytest.fixture
def weighted_csv(tmp_path):
    """breast_cancer with a `w` column: 0 on every third row, 1 to 3 elsewhere."""
    frame = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(0)
    frame["w"] = np.where(np.arange(len(frame)) % 3 == 0, 0.0, rng.integers(1, 4, len(frame)))
    path = tmp_path / "weighted.csv"
    frame.to_csv(path, index=False)
    return path


def test_the_weight_column_is_never_a_feature_and_changes_the_fingerprint(weighted_csv, tmp_path):
    plain = load_dataset(Dataset(uri=f"file://{weighted_csv}", target="target"))
    weighted = load_dataset(Dataset(uri=f"file://{weighted_csv}", target="target"), weight="w")
    assert "w" in plain.features.columns and "w" not in weighted.features.columns
    assert weighted.weights is not None and weighted.weights.sum() > 0
    frame = pd.read_csv(weighted_csv)
    frame.loc[1, "w"] += 1
    other = tmp_path / "other.csv"
    frame.to_csv(other, index=False)
    reweighted = load_dataset(Dataset(uri=f"file://{other}", target="target"), weight="w")
    assert reweighted.sha256 != weighted.sha256  # new weights are new data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(w=-1.0), "negative"),
        (lambda f: f.assign(w=np.where(f.index == 3, np.nan, 1.0)), "missing"),
        (lambda f: f.assign(w="heavy"), "not numeric"),
        (lambda f: f.assign(w=0.0), "0 on every row"),
        (lambda f: f.drop(columns="w"), "not in"),
    ],
)
def test_bad_weights_are_a_data_error_naming_the_column(weighted_csv, tmp_path, change, message):
    path = tmp_path / "bad.csv"
    change(pd.read_csv(weighted_csv)).to_csv(path, index=False)
    with pytest.raises(DataError, match=message) as info:
        load_dataset(Dataset(uri=f"file://{path}", target="target"), weight="w")
    assert "'w'" in str(info.value)


def test_weights_shape_the_fit_and_every_metric(train, weighted_csv):
    run = train(_spec(weighted_csv, sampleWeight="w"), revision="v1")
    assert run.code == 0, run.stderr
    meta = read_metadata(run.output)
    assert "w" not in meta.features.names
    model = load_bundle(run.output, run.summary.model_sha256).model
    # The fit: rows of weight 0 do not count, so it is the fit on the other rows, repeated
    # by their weights.
    frame = pd.read_csv(weighted_csv)
    data = load_dataset(Dataset(uri=f"file://{weighted_csv}", target="target"), weight="w")
    from modelpilot.api.metrics import Task
    from modelpilot.trainer.splitting import split

    parts = split(data, task=Task.CLASSIFICATION, test_size=0.25, random_state=0)
    assert parts.w_train is not None and parts.w_holdout is not None
    kept = parts.w_train > 0
    repeated_x = parts.x_train[kept].loc[
        parts.x_train[kept].index.repeat(parts.w_train[kept].astype(int))
    ]
    repeated_y = parts.y_train.loc[repeated_x.index]
    from sklearn.linear_model import LogisticRegression

    by_rows = LogisticRegression(max_iter=5000, random_state=0).fit(repeated_x, repeated_y)
    unweighted = LogisticRegression(max_iter=5000, random_state=0).fit(parts.x_train, parts.y_train)
    # Equal up to the solver's tolerance, and far from the fit that ignores the weights.
    assert np.allclose(model.coef_, by_rows.coef_, rtol=0.05, atol=0.02)
    assert not np.allclose(model.coef_, unweighted.coef_, rtol=0.05, atol=0.02)
    # The metrics: the holdout weighted.
    predicted = model.predict(parts.x_holdout)
    w = parts.w_holdout.to_numpy()
    assert run.summary.metrics["accuracy"] == pytest.approx(
        m.accuracy_score(parts.y_holdout, predicted, sample_weight=w)
    )
    assert run.summary.metrics["accuracy"] != pytest.approx(
        m.accuracy_score(parts.y_holdout, predicted)
    )
    assert run.summary.metrics["f1_macro"] == pytest.approx(
        m.f1_score(parts.y_holdout, predicted, average="macro", sample_weight=w)
    )
    assert run.summary.metrics["roc_auc"] == pytest.approx(
        m.roc_auc_score(
            parts.y_holdout, model.predict_proba(parts.x_holdout)[:, 1], sample_weight=w
        )
    )
    assert len(frame) == data.rows


def test_stable_is_scored_with_the_same_weights(train, weighted_csv):
    stable = train(
        _spec(weighted_csv, sampleWeight="w", params={"max_iter": 5000, "C": 0.01}), revision="v1"
    )
    run = train(
        _spec(weighted_csv, sampleWeight="w"),
        "--stable-dir",
        str(stable.output),
        "--stable-sha256",
        stable.summary.model_sha256,
        revision="v2",
    )
    assert run.code == 0, run.stderr
    # The same holdout and weights: stable's score there is the score of its own run.
    assert run.summary.holdout_sha256 == stable.summary.holdout_sha256
    assert run.summary.stable_score == pytest.approx(stable.summary.candidate_score)


def test_a_weighted_regressor_in_a_pipeline(train, tmp_path):
    frame = load_diabetes(as_frame=True).frame
    frame["w"] = np.linspace(0.5, 2.0, len(frame))
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    spec = _spec(
        path,
        estimator="sklearn.linear_model.Ridge",
        params={"alpha": 1.0},
        metric="r2",
        sampleWeight="w",
        preprocessing=[{"transformer": "StandardScaler", "columns": ["bmi"]}],
    )
    run = train(spec, revision="v1")
    assert run.code == 0, run.stderr
    model = load_bundle(run.output, run.summary.model_sha256).model
    data = load_dataset(Dataset(uri=f"file://{path}", target="target"), weight="w")
    from modelpilot.api.metrics import Task
    from modelpilot.trainer.splitting import split

    parts = split(data, task=Task.REGRESSION, test_size=0.25, random_state=0)
    predicted = model.predict(parts.x_holdout)
    assert run.summary.metrics["r2"] == pytest.approx(
        m.r2_score(parts.y_holdout, predicted, sample_weight=parts.w_holdout)
    )
    assert run.summary.metrics["mae"] == pytest.approx(
        m.mean_absolute_error(parts.y_holdout, predicted, sample_weight=parts.w_holdout)
    )


def test_an_estimator_without_sample_weight_is_a_spec_error(train, weighted_csv):
    run = train(
        _spec(
            weighted_csv,
            estimator="sklearn.neighbors.KNeighborsClassifier",
            params={},
            sampleWeight="w",
        )
    )
    assert run.code == 2 and "sample_weight" in run.stderr


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from("abc"), st.floats(0.0, 5.0)),
        min_size=1,
        max_size=30,
    )
)
def test_weighted_label_metrics_equal_scikit_learns(rows):
    y_true = np.array([r[0] for r in rows])
    y_pred = np.array([r[1] for r in rows])
    w = np.array([r[2] for r in rows])
    if not w.sum() > 0 or not w[np.isin(y_true, np.unique(y_true))].sum() > 0:
        return
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {
            "accuracy": m.accuracy_score(y_true, y_pred, sample_weight=w),
            "f1_macro": m.f1_score(
                y_true, y_pred, average="macro", zero_division=0, sample_weight=w
            ),
            "precision_macro": m.precision_score(
                y_true, y_pred, average="macro", zero_division=0, sample_weight=w
            ),
            "recall_macro": m.recall_score(
                y_true, y_pred, average="macro", zero_division=0, sample_weight=w
            ),
        }
    got = label_metrics(y_true, y_pred, w)
    assert {k: got[k] for k in expected} == pytest.approx(expected, abs=1e-9)
