"""`modelpilot wait` on the real node: the exit code tells a CI job how its rollout ended.

Five ModelDeployments run side by side in one namespace so the module stays short: one
that ships (0), one the gate rejects (3), one whose canary is aborted (4), one the policy
stalls (6), and a wait whose timeout passes first (7).
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml
from canary_harness import canary_status, run_cli
from kube import REPO, Kubectl, wait_for
from operator_harness import EXAMPLES, Story

pytestmark = pytest.mark.e2e

IRIS = yaml.safe_load((EXAMPLES / "iris" / "iris.yaml").read_text())


def _doc(name: str, **training: object) -> dict:
    doc = copy.deepcopy(IRIS)
    doc["metadata"]["name"] = name
    doc["spec"]["training"].update(training)
    return doc


def _wait(kube: dict[str, str], namespace: str, name: str, target: str, timeout: str):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelpilot.cli",
            "wait",
            name,
            "-n",
            namespace,
            f"--for={target}",
            "--timeout",
            timeout,
        ],
        env=kube,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finished(proc: subprocess.Popen, seconds: float = 300) -> tuple[int, str]:
    out, err = proc.communicate(timeout=seconds)
    return proc.returncode, out + err


def test_wait_exit_codes_tell_each_outcome_apart(
    operator, kubectl: Kubectl, namespace: str, kube: dict[str, str]
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "iris" / "model-store.yaml"))
    aborted = _doc("aborted")
    aborted["spec"]["evaluation"]["tolerance"] = 0.2  # v2 must pass the gate to reach a canary
    aborted["spec"]["rollout"] = {
        "trafficRouter": {"replicas": {}},
        "steps": [{"setWeight": 50}, {"pause": {}}],
    }
    kubectl.apply(
        [
            _doc("ships"),
            _doc("rejected", estimator="sklearn.dummy.DummyClassifier", params={}),
            _doc("stalled", image="evil.example/miner:latest"),
            aborted,
        ],
        namespace,
    )
    too_soon = _wait(kube, namespace, "ships", "promoted", "1s")
    ships = _wait(kube, namespace, "ships", "promoted", "4m")
    rejected = _wait(kube, namespace, "rejected", "promoted", "4m")
    stalled = _wait(kube, namespace, "stalled", "serving", "4m")

    code, text = _finished(too_soon, 60)
    assert code == 7, text
    assert "timed out" in text

    # aborted: v1 serves, then a new spec starts v2 as a canary that is aborted at its pause.
    story = Story(kubectl, namespace, name="aborted")
    story.wait_condition("Ready", timeout=240)
    changed = copy.deepcopy(aborted)
    changed["spec"]["training"]["params"] = {"n_estimators": 21, "random_state": 0}
    kubectl.apply(changed, namespace)
    rolled_back = _wait(kube, namespace, "aborted", "promoted", "4m")
    # Without traffic its analysis may give up first (inconclusive): rolled back all the same.
    wait_for(
        lambda: canary_status(story).get("paused") or story.status().get("phase") == "RolledBack",
        timeout=240,
        what="v2 paused at 50 % (or already rolled back)",
    )
    if story.status().get("phase") != "RolledBack":
        done = run_cli(kube, "abort", "aborted", "-n", namespace)
        assert done.returncode == 0, done.stderr

    for proc, expected, words in (
        (ships, 0, "promoted"),
        (rejected, 3, "rejected"),
        (stalled, 6, "stalled"),
        (rolled_back, 4, "rolled back"),
    ):
        code, text = _finished(proc)
        assert code == expected, text
        assert words in text, text

    # Once shipped, waiting again answers at once; a missing one is an error on stderr.
    again = run_cli(kube, "wait", "ships", "-n", namespace, "--for=promoted", "--timeout=5s")
    assert again.returncode == 0, again.stderr
    missing = run_cli(kube, "wait", "nope", "-n", namespace, "--for=serving")
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert "Traceback" not in missing.stderr
