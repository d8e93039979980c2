"""The trainer as the training Job runs it: a real process, configured by environment only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from modelpilot.api import names
from modelpilot.api.bundle import load_bundle
from modelpilot.api.summary import decode
from modelpilot.trainer.__main__ import Terminated, _sigterm_raises


def _job_env(tmp_path, spec: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPILOT_")}
    env.update(
        {
            names.ENV_SPEC_JSON: json.dumps(spec),
            names.ENV_OUTPUT: str(tmp_path / "store" / "ml" / "iris" / "v1"),
            names.ENV_TERMINATION_LOG: str(tmp_path / "termination-log"),
            names.ENV_MODEL_NAME: "iris",
            names.ENV_NAMESPACE: "ml",
            names.ENV_REVISION: "v1",
            names.ENV_ESTIMATOR_ALLOWLIST: "sklearn.*",
        }
    )
    return env


def test_modelpilot_train_runs_as_the_job_runs_it(tmp_path, iris_spec):
    env = _job_env(tmp_path, iris_spec())
    done = subprocess.run(
        [sys.executable, "-m", "modelpilot.cli", "train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = decode((tmp_path / "termination-log").read_text())
    assert summary.ok and summary.revision == "v1"
    bundle = load_bundle(tmp_path / "store" / "ml" / "iris" / "v1", summary.model_sha256)
    assert (bundle.metadata.namespace, bundle.metadata.name) == ("ml", "iris")


def test_a_failing_job_exits_with_its_code_and_one_stderr_line(tmp_path, iris_spec):
    env = _job_env(tmp_path, iris_spec(estimator="sklearn.ensemble.NoSuchForest"))
    done = subprocess.run(
        [sys.executable, "-m", "modelpilot.cli", "train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "modelpilot train: invalid spec: estimator 'sklearn.ensemble.NoSuchForest' is not a "
        "scikit-learn estimator class"
    ]
    summary = decode((tmp_path / "termination-log").read_text())
    assert (summary.ok, summary.exit_code) == (False, 2)
    assert not (tmp_path / "store" / "ml" / "iris").exists()


def test_sigterm_becomes_an_exception_so_cleanup_runs():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated, match="SIGTERM"), _sigterm_raises():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is previous
