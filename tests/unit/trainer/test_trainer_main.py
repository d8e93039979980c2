"""`modelpilot train` end to end, in-process: the thin path the operator relies on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelpilot.api import names
from modelpilot.api.bundle import load_bundle
from modelpilot.api.summary import MAX_BYTES, decode
from modelpilot.trainer.__main__ import main


def test_builtin_iris_writes_a_bundle_and_reports_it(train, iris_spec):
    run = train(iris_spec(), revision="v1")
    assert run.code == 0, run.stderr
    assert run.summary.ok and run.summary.verdict == "Passed"
    assert run.summary.revision == "v1"
    loaded = load_bundle(run.output, run.summary.model_sha256)
    assert loaded.metadata.name == "model" and loaded.metadata.namespace == "ml"
    assert loaded.metadata.classes == [0, 1, 2]
    assert "accuracy" in run.stdout and "Passed" in run.stdout
    assert [p.name for p in run.output.parent.iterdir()] == ["v1"]  # no staging left


def test_termination_message_is_compact_json_under_the_limit(train, iris_spec, tmp_path):
    run = train(iris_spec())
    text = next(tmp_path.glob("termination-*.log")).read_text()
    assert len(text.encode()) < MAX_BYTES
    assert json.loads(text)["model_sha256"] == run.summary.model_sha256


def test_stdout_tells_a_person_what_happened(train, iris_spec):
    run = train(iris_spec())
    for expected in (
        "112 training rows",
        "38 holdout rows",
        "4 features",
        "fit ",
        "accuracy",
        "roc_auc",
        "log_loss",
        "verdict   Passed",
        "sha256 ",
    ):
        assert expected in run.stdout, expected


def test_the_spec_can_come_inline_from_the_environment(tmp_path, iris_spec, capsys):
    output = tmp_path / "ml" / "iris" / "v3"
    log = tmp_path / "log"
    env = {
        names.ENV_SPEC_JSON: json.dumps(iris_spec()),
        names.ENV_OUTPUT: str(output),
        names.ENV_TERMINATION_LOG: str(log),
        names.ENV_MODEL_NAME: "flowers",
    }
    assert main([], env) == 0, capsys.readouterr().err
    summary = decode(log.read_text())
    meta = load_bundle(output, summary.model_sha256).metadata
    assert (meta.namespace, meta.name, meta.revision) == ("ml", "flowers", "v3")


def test_a_whole_modeldeployment_spec_in_yaml_is_accepted(train):
    spec = """
spec:
  training:
    dataset: {builtin: iris}
    estimator: sklearn.tree.DecisionTreeClassifier
    testSize: 0.3
  evaluation: {metric: f1_macro, threshold: 0.5}
  serving: {replicas: 3}
"""
    run = train(spec)
    assert run.code == 0, run.stderr
    assert run.summary.holdout_rows == 45


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("training: [unclosed", "not valid YAML/JSON"),
        ("[1, 2]", "must be a mapping"),
        (
            '{"training": {"dataset": {"builtin": "iris"}, "estimator": "x.Y"}}',
            "spec.evaluation is required",
        ),
    ],
    ids=["malformed", "not-a-mapping", "no-evaluation"],
)
def test_an_unreadable_spec_exits_2(train, spec, message):
    run = train(spec)
    assert run.code == 2 and message in run.stderr


def test_the_summary_stays_under_4096_bytes_with_many_classes(train, tmp_path):
    rng = np.random.default_rng(0)
    classes = [f"class-with-a-rather-long-name-{i:04d}" for i in range(400)]
    labels = np.repeat(classes, 4)
    frame = pd.DataFrame({"x": rng.normal(size=labels.size), "label": labels})
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False)
    spec = {
        "training": {
            "dataset": {"uri": str(path), "target": "label"},
            "estimator": "sklearn.tree.DecisionTreeClassifier",
            "testSize": 0.5,
        },
        "evaluation": {"metric": "accuracy"},
    }
    run = train(spec)
    assert run.code == 0, run.stderr
    text = next(tmp_path.glob("termination-*.log")).read_text()
    assert len(text.encode()) < MAX_BYTES
    assert load_bundle(run.output, run.summary.model_sha256).metadata.classes == classes


def test_a_failure_summary_stays_under_4096_bytes_with_a_huge_message(train, tmp_path):
    frame = pd.DataFrame({f"column_with_a_long_name_{i:05d}": [1.0, 2.0] for i in range(3000)})
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    spec = {
        "training": {
            "dataset": {
                "uri": str(path),
                "target": "nope",
                "features": [f"missing_{i}" for i in range(3000)],
            },
            "estimator": "sklearn.tree.DecisionTreeClassifier",
        },
        "evaluation": {"metric": "accuracy"},
    }
    run = train(spec)
    assert run.code == 3
    text = next(tmp_path.glob("termination-*.log")).read_text()
    assert len(text.encode()) < MAX_BYTES and decode(text).error.startswith("data error")


def test_help_exits_0(capsys):
    assert main(["--help"], {}) == 0
    assert "--spec-json" in capsys.readouterr().out


def test_yaml_exponent_floats_are_numbers_as_kubectl_reads_them(train):
    spec = """
training:
  dataset: {builtin: iris}
  estimator: sklearn.linear_model.LogisticRegression
  params: {tol: 1e-3, max_iter: 500}
evaluation: {metric: accuracy}
"""
    run = train(spec)
    assert run.code == 0, run.stderr
    assert load_bundle(run.output, run.summary.model_sha256).metadata.params["tol"] == 0.001
