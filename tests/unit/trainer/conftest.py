"""Fixtures for trainer tests: write a spec, run `modelpilot train` in-process, read results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelpilot.api.summary import TrainingSummary, decode
from modelpilot.trainer.__main__ import main


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    summary: TrainingSummary
    output: Path


def make_iris_spec(**training: Any) -> dict[str, Any]:
    base = {
        "dataset": {"builtin": "iris"},
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 1000},
    }
    base.update(training)
    return {"training": base, "evaluation": {"metric": "accuracy", "threshold": 0.8}}


@pytest.fixture
def iris_spec():
    """A passing LogisticRegression-on-iris spec; keyword args override training fields."""
    return make_iris_spec


@pytest.fixture
def train(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run the trainer on a spec dict; returns exit code, output and the decoded summary."""
    counter = iter(range(1, 1000))

    def run(
        spec: dict[str, Any] | str,
        *extra: str,
        revision: str | None = None,
        env: dict[str, str] | None = None,
        output: Path | None = None,
    ) -> Run:
        n = next(counter)
        spec_file = tmp_path / f"spec-{n}.json"
        spec_file.write_text(spec if isinstance(spec, str) else json.dumps(spec))
        out = output or tmp_path / "store" / "ml" / "model" / (revision or f"v{n}")
        log = tmp_path / f"termination-{n}.log"
        argv = [
            "--spec",
            str(spec_file),
            "--output",
            str(out),
            "--termination-log",
            str(log),
            *extra,
        ]
        code = main(argv, env or {})
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err, decode(log.read_text()), out)

    return run
