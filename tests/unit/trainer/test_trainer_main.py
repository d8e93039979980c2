"""`modelpilot train` end to end, in-process: the thin path the operator relies on."""

from __future__ import annotations

import json

from modelpilot.api.bundle import load_bundle
from modelpilot.api.summary import MAX_BYTES


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
