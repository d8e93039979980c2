"""Drift of the live inputs on the real control plane (examples/drift): v1 serves, a load
generator sends iris rows whose petal length is shifted to the top of its range, and within
two monitoring intervals Drifted=True names that feature (Ready stays True); retrainOnDrift
then starts a revision with trigger Drifted.
"""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest
from canary_harness import run_cli
from kube import wait_for
from operator_harness import EXAMPLES, Story
from sklearn.datasets import load_iris

pytestmark = pytest.mark.e2e
SHIFTED = "petal length (cm)"


class ShiftedLoad:
    """Sends 10 iris rows every 0.1 s to one pod, the petal length set to 6.9 cm."""

    def __init__(self, url: str) -> None:
        self.url, self.sent, self.failed = url, 0, 0
        self._stop = threading.Event()
        rows = load_iris().data.copy()
        rows[:, 2] = 6.9
        self.rows = rows
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ShiftedLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        rng = np.random.default_rng(0)
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                batch = self.rows[rng.choice(len(self.rows), 10, replace=False)].tolist()
                try:
                    ok = client.post(self.url, json={"instances": batch}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.sent += ok
                self.failed += not ok
                time.sleep(0.1)


def test_shifted_feature_is_named_within_two_intervals_and_a_drifted_revision_starts(
    operator, kubectl, namespace, kube
):
    story = Story(kubectl, namespace)
    story.apply(EXAMPLES / "drift")
    story.wait_condition("Ready", timeout=240)
    # The first read of the stable pod's counters sets the baseline.
    wait_for(
        lambda: (story.status().get("monitoring") or {}).get("revision") == "v1",
        timeout=30,
        what="the drift baseline of v1",
    )
    [pod] = story.serving_pods("v1")
    url = f"http://{pod['status']['podIP']}:8080/v1/models/iris:predict"

    with ShiftedLoad(url) as load:
        started = time.monotonic()
        drifted = story.wait_condition("Drifted", "True", timeout=2 * 5 + 5)
        seen = time.monotonic() - started
        # While the shifted rows still flow (a window without rows is Unknown again).
        report = run_cli(kube, "status", "iris", "-n", namespace).stdout
    print(f"Drifted=True after {seen:.1f}s of shifted load ({load.sent} requests sent)")
    assert load.failed == 0
    assert SHIFTED in drifted["message"]
    assert drifted["reason"] == "FeatureDrift"
    monitoring = story.status()["monitoring"]
    assert monitoring["worst"][0]["feature"] == SHIFTED
    assert monitoring["worst"][0]["psi"] > 0.25
    assert story.condition("Ready")["status"] == "True"

    # retrainOnDrift: a revision with trigger Drifted starts, through the usual path.
    candidate = wait_for(
        lambda: (lambda c: c if c.get("revision") == "v2" else None)(
            story.status().get("candidate") or {}
        ),
        timeout=30,
        what="a v2 revision",
    )
    assert candidate["trigger"] == "Drifted"
    wait_for(lambda: "iris-train-v2" in story.names("jobs"), timeout=30, what="v2's Job")
    assert "Drift      DRIFTED" in report and f"  {SHIFTED}  #" in report, report
