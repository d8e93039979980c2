"""The read verbs without a cluster: list, history, diff, get --watch lines, lint, the help
and completion, and errors as one line on stderr."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import model_deployment

from modelpilot.cli import main as cli
from modelpilot.cli.completion import bash_script
from modelpilot.cli.get import progress_line, watch_lines
from modelpilot.cli.lint import lint_documents, problems
from modelpilot.cli.reads import (
    UnknownRevision,
    diff_records,
    dumped,
    history_table,
    list_table,
    revision_record,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]
T = "2026-01-01T11:00:00Z"


def mdep(name: str, namespace: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = {"serving": {"pinRevision": "v1"}} if name == "pinned" else {}
    return model_deployment(
        spec, name=name, namespace=namespace, status=status or {}, creationTimestamp=T
    )


HISTORY = {
    "phase": "Serving",
    "stable": {
        "revision": "v2",
        "modelSha256": "b" * 64,
        "deployment": "iris-v2",
        "service": "iris",
        "metric": "accuracy",
        "score": 0.96,
    },
    "history": [
        {
            "revision": "v2",
            "outcome": "Promoted",
            "trigger": "SpecChanged",
            "metric": "accuracy",
            "score": 0.96,
            "modelSha256": "b" * 64,
            "specHash": "s2",
            "trainingDataSha256": "d" * 64,
            "finishedAt": "2026-01-01T11:30:00Z",
        },
        {
            "revision": "v1",
            "outcome": "Promoted",
            "trigger": "Created",
            "metric": "accuracy",
            "score": 0.93,
            "modelSha256": "a" * 64,
            "specHash": "s1",
            "trainingDataSha256": "d" * 64,
            "finishedAt": "2026-01-01T11:00:00Z",
        },
    ],
}


def test_list_shows_the_namespace_column_only_with_all_namespaces() -> None:
    items = [
        mdep("iris", "b", {"phase": "Canary", "canary": {"revision": "v2", "weight": 20}}),
        mdep("pinned", "a", {"phase": "Serving"}),
    ]
    text = list_table(items, NOW, all_namespaces=True).splitlines()
    assert text[0].split() == [
        "NAMESPACE",
        "NAME",
        "PHASE",
        "READY",
        "STABLE",
        "CANDIDATE",
        "WEIGHT",
        "PINNED",
        "AGE",
    ]
    assert text[1].split() == ["a", "pinned", "Serving", "-", "-", "-", "-", "v1", "1h"]
    assert text[2].split()[:3] == ["b", "iris", "Canary"] and "20" in text[2].split()
    assert list_table(items, NOW, all_namespaces=False).splitlines()[0].startswith("NAME ")
    assert list_table([], NOW, all_namespaces=False) == "No ModelDeployments found."


def test_history_lists_each_revision_with_its_digest_and_data() -> None:
    lines = history_table(mdep("iris", "ml", HISTORY)).splitlines()
    assert lines[0].split() == [
        "REVISION",
        "OUTCOME",
        "TRIGGER",
        "SCORE",
        "DIGEST",
        "DATA",
        "FINISHED",
    ]
    assert lines[1].split()[:5] == ["v2", "Promoted", "SpecChanged", "accuracy", "0.9600"]
    assert "b" * 12 in lines[1] and "d" * 12 in lines[1]


def test_diff_names_what_changed_and_leaves_out_the_times() -> None:
    body = mdep("iris", "ml", HISTORY)
    changes = diff_records(revision_record(body, "v1"), revision_record(body, "v2"))
    assert [c[0] for c in changes] == ["modelSha256", "score", "specHash", "trigger"]
    assert ("score", 0.93, 0.96) in changes
    with pytest.raises(UnknownRevision, match=r"no revision v9 in status \(known: v1, v2\)"):
        revision_record(body, "v9")


def test_diff_shows_the_estimator_and_each_parameter_that_changed() -> None:
    history = copy.deepcopy(HISTORY)
    v2, v1 = history["history"]
    v1 |= {
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 20, "random_state": 0},
    }
    v2 |= {
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 200, "random_state": 0, "max_depth": 4},
    }
    body = mdep("iris", "ml", history)
    changes = diff_records(revision_record(body, "v1"), revision_record(body, "v2"))
    assert ("params.n_estimators", 20, 200) in changes
    assert ("params.max_depth", None, 4) in changes
    assert not any(k in ("estimator", "params.random_state") for k, _, _ in changes)


def test_output_formats_are_machine_readable() -> None:
    data = [{"b": 1, "a": [1, 2]}]
    assert json.loads(dumped(data, "json")) == data
    assert yaml.safe_load(dumped(data, "yaml")) == data


def test_a_piped_watch_prints_a_line_only_when_something_changed() -> None:
    bodies = iter(
        [
            mdep("iris", "ml", {"phase": "Training", "message": "v1 is training"}),
            mdep("iris", "ml", {"phase": "Training", "message": "v1 is training"}),
            mdep(
                "iris",
                "ml",
                {"phase": "Serving", "message": "v1 serves", "stable": HISTORY["stable"]},
            ),
        ]
    )
    lines: list[str] = []
    ticks = iter([False, False, False, True])
    watch_lines(lambda: next(bodies), lines.append, until=lambda: next(ticks), sleep=lambda _: None)
    assert lines == ["phase Training: v1 is training", "phase Serving, stable v2: v1 serves"]
    assert progress_line(mdep("x", "ml", {"phase": "Pending"})) == "phase Pending"


def test_lint_names_each_bad_field_as_kubectl_would() -> None:
    good = yaml.safe_load((ROOT / "examples" / "iris" / "iris.yaml").read_text())
    assert problems(good) == []
    bad = json.loads(json.dumps(good))
    bad["spec"]["serving"]["resources"] = {"requests": {"cpu": "lots"}}
    bad["spec"]["serving"]["pod"] = {"labels": {"modelpilot.dev/model": "x"}}
    bad["spec"]["evaluation"]["threshold"] = 1.5
    found = problems(bad)
    assert any(
        p.startswith("spec.serving.resources.requests.cpu") and "lots" in p for p in found
    ), found
    assert any("pod.labels may not set modelpilot.dev/model" in p for p in found), found
    assert any("threshold 1.5 is outside [0, 1]" in p for p in found), found
    other = {"apiVersion": "v1", "kind": "ConfigMap"}
    checked, lines = lint_documents([good, other, bad], "x.yaml")
    assert checked == 2 and all(line.startswith("x.yaml: iris: ") for line in lines)
    wrong_version = {**good, "apiVersion": "modelpilot.dev/v1"}
    assert problems(wrong_version) == [
        "apiVersion must be modelpilot.dev/v1alpha1, not 'modelpilot.dev/v1'"
    ]


def test_lint_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text((ROOT / "examples" / "iris" / "iris.yaml").read_text())
    assert cli.main(["lint", "-f", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("threshold: 0.9", "threshold: 7"))
    assert cli.main(["lint", "-f", str(good), "-f", str(bad)]) == 1
    assert "bad.yaml: iris: spec.evaluation" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [")
    assert cli.main(["lint", "-f", str(broken)]) == 2


def test_help_hides_the_pod_internal_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for verb in ("list", "get", "wait", "history", "diff", "lint", "completion", "status"):
        assert f"\n  {verb} " in text
    for verb in cli.POD_INTERNAL:
        assert f"\n  {verb} " not in text
    script = bash_script()
    assert "list get history" in script and "fetch-bundle" not in script


def test_errors_are_one_line_on_stderr_without_a_traceback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "modelpilot.cli", "get", "iris"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("modelpilot get: cannot reach the cluster")
    assert "Traceback" not in result.stderr and result.stdout == ""
