"""Estimator and preprocessing: allowlist, params checked against the signature, Pipelines."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from modelpilot.api import names
from modelpilot.api.bundle import load_bundle
from modelpilot.api.metrics import Task
from modelpilot.trainer.estimators import build_estimator, is_allowed

DEFAULT = names.DEFAULT_ESTIMATOR_ALLOWLIST


@pytest.mark.parametrize(
    ("path", "allowlist", "allowed"),
    [
        ("sklearn.ensemble.RandomForestClassifier", ("sklearn.*",), True),
        ("sklearnx.Evil", ("sklearn.*",), False),
        ("os.system", ("sklearn.*",), False),
        ("sklearn.linear_model.Ridge", ("sklearn.ensemble.*", "sklearn.linear_model.Ridge"), True),
        ("sklearn.linear_model.Lasso", ("sklearn.ensemble.*", "sklearn.linear_model.Ridge"), False),
    ],
)
def test_the_allowlist_is_fnmatch_patterns(path, allowlist, allowed):
    assert is_allowed(path, allowlist) is allowed


def test_random_state_defaults_to_the_spec_seed_unless_params_set_it():
    seeded = build_estimator(
        "sklearn.ensemble.RandomForestClassifier", {}, allowlist=DEFAULT, random_state=7
    )
    assert seeded.estimator.random_state == 7 and seeded.task is Task.CLASSIFICATION
    own = build_estimator(
        "sklearn.ensemble.RandomForestClassifier",
        {"random_state": 3},
        allowlist=DEFAULT,
        random_state=7,
    )
    assert own.estimator.random_state == 3
    ridge = build_estimator(
        "sklearn.linear_model.LinearRegression", {}, allowlist=DEFAULT, random_state=7
    )
    assert ridge.task is Task.REGRESSION


@pytest.mark.parametrize(
    ("training", "evaluation", "message"),
    [
        ({"estimator": "os.system"}, {}, "'os.system' is not allowed; .*sklearn\\.\\*"),
        ({"estimator": "sklearn.__builtins__.eval"}, {}, "is not an import path"),
        ({"estimator": "sklearn.utils.Bunch"}, {}, "not a scikit-learn estimator class"),
        ({"estimator": "sklearn.nope.Thing"}, {}, "cannot import sklearn.nope"),
        (
            {"estimator": "sklearn.preprocessing.StandardScaler"},
            {},
            "neither a classifier nor a regressor",
        ),
        (
            {"params": {"n_estimator": 5}},
            {},
            "no param 'n_estimator'; valid params: .*n_estimators",
        ),
        ({"params": {"n_estimators": -1}}, {}, "n_estimators"),
        ({}, {"metric": "r2"}, "'r2' is not a classification metric.*accuracy, balanced_accuracy"),
        (
            {"estimator": "sklearn.svm.SVC", "params": {}},
            {"metric": "log_loss"},
            "log_loss needs predict_proba",
        ),
        ({"testSize": 1.5}, {}, "spec.training.testSize"),
        ({"estimatr": "x"}, {}, "spec.training.estimatr: Extra inputs"),
        ({}, {"metric": "accuracy", "threshold": 2}, "threshold 2.0 is outside"),
        (
            {"dataset": {"builtin": "iris", "uri": "x.csv"}},
            {},
            "exactly one of builtin, uri or pvc",
        ),
        ({"preprocessing": [{"transformer": "NoSuchScaler"}]}, {}, "'NoSuchScaler' is not in"),
        ({"preprocessing": [{"transformer": "os.path.join"}]}, {}, "transformer 'os.path.join'"),
        (
            {"preprocessing": [{"transformer": "StandardScaler", "params": {"mean": 1}}]},
            {},
            "no param 'mean'; valid params: copy, with_mean, with_std",
        ),
    ],
    ids=[
        "outside-allowlist",
        "dunder-path",
        "not-an-estimator",
        "unimportable",
        "transformer",
        "unknown-param",
        "bad-param-value",
        "metric-of-other-task",
        "log-loss-without-proba",
        "test-size-out-of-range",
        "unknown-field",
        "threshold-out-of-bounds",
        "two-sources",
        "unknown-transformer",
        "transformer-outside-allowlist",
        "unknown-transformer-param",
    ],
)
def test_an_invalid_spec_exits_2_with_the_reason(train, iris_spec, training, evaluation, message):
    spec = iris_spec(
        estimator="sklearn.ensemble.RandomForestClassifier", params={"n_estimators": 5}
    )
    if "estimator" in training:
        training = {"params": {}, **training}
    spec["training"].update(training)
    spec["evaluation"].update(evaluation)
    run = train(spec)
    assert run.code == 2, run.stderr
    assert run.stderr.startswith("modelpilot train: invalid spec:"), run.stderr
    assert run.stderr.count("\n") == 1
    assert re.search(message, run.stderr), run.stderr
    assert run.summary.exit_code == 2 and not run.summary.ok
    assert not run.output.exists()


def test_the_platform_allowlist_comes_from_the_environment_only(train, iris_spec):
    env = {names.ENV_ESTIMATOR_ALLOWLIST: "sklearn.linear_model.*"}
    run = train(iris_spec(estimator="sklearn.ensemble.RandomForestClassifier"), env=env)
    assert run.code == 2 and "allowlist is sklearn.linear_model.*" in run.stderr
    assert train(iris_spec(), env=env).code == 0


@pytest.mark.parametrize(
    "argv",
    [["--stable-dir", "/x"], ["--stable-sha256", "ab"], ["--bogus"]],
    ids=["stable-dir-without-digest", "digest-without-dir", "unknown-flag"],
)
def test_a_bad_command_line_exits_2_and_still_reports(train, iris_spec, argv):
    run = train(iris_spec(), *argv)
    assert run.code == 2 and run.summary.exit_code == 2, run.stderr


def test_preprocessing_builds_a_pipeline_that_encodes_and_scales(train, tmp_path):
    rng = np.random.default_rng(1)
    colour = rng.choice(["red", "green", "blue"], size=300)
    size = rng.normal(size=300)
    frame = pd.DataFrame(
        {
            "colour": colour,
            "size": size * 100,
            "label": ((colour == "red") | (size > 1)).astype(int),
        }
    )
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False)
    spec = {
        "training": {
            "dataset": {"uri": str(path), "target": "label"},
            "estimator": "sklearn.linear_model.LogisticRegression",
            "preprocessing": [
                {"transformer": "StandardScaler"},
                {"transformer": "OneHotEncoder", "columns": ["colour"]},
            ],
        },
        "evaluation": {"metric": "accuracy", "threshold": 0.8},
    }
    run = train(spec)
    assert run.code == 0, run.stderr
    model = load_bundle(run.output, run.summary.model_sha256).model
    steps = model.named_steps["preprocess"].transformers
    assert sorted((type(t).__name__, cols) for _, t, cols in steps) == [
        ("OneHotEncoder", ["colour"]),
        ("StandardScaler", ["size"]),
    ]
    # A colour never seen in training must not break prediction in serving.
    unseen = pd.DataFrame({"colour": ["purple"], "size": [0.0]})
    assert model.predict(unseen).shape == (1,)


def test_a_preprocessing_column_missing_from_the_data_is_a_data_error(train, iris_spec):
    spec = iris_spec(preprocessing=[{"transformer": "StandardScaler", "columns": ["height"]}])
    run = train(spec)
    assert run.code == 3 and "names column 'height'" in run.stderr


def test_a_failing_fit_exits_4(train, tmp_path):
    frame = pd.DataFrame({"a": [1.0, np.nan] * 50, "b": range(100), "label": [0, 1] * 50})
    path = tmp_path / "nan.csv"
    frame.to_csv(path, index=False)
    spec = {
        "training": {
            "dataset": {"uri": str(path), "target": "label"},
            "estimator": "sklearn.linear_model.LogisticRegression",
        },
        "evaluation": {"metric": "accuracy"},
    }
    run = train(spec)
    assert run.code == 4, run.stderr
    assert run.stderr.startswith("modelpilot train: training error: fit failed: ValueError")
    assert "NaN" in run.summary.error and not run.output.exists()
