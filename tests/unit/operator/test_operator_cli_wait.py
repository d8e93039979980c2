"""`modelpilot wait`: which exit code each status earns, and the loop's deadline, with an
injected clock (no sleeping)."""

from __future__ import annotations

from typing import Any

import pytest

from modelpilot.cli import main as cli
from modelpilot.cli.wait import Outcome, Target, outcome, wait


def body(
    phase: str,
    *,
    ready: str = "False",
    stalled: str = "False",
    stalled_reason: str = "S",
    candidate: dict[str, Any] | None = None,
    generation: int = 2,
    observed: int | None = 2,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            {
                "type": "Ready",
                "status": ready,
                "reason": "R",
                "message": "m",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            },
            {
                "type": "Stalled",
                "status": stalled,
                "reason": stalled_reason,
                "message": "m",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            },
        ],
    }
    if candidate is not None:
        status["candidate"] = {
            "revision": "v2",
            "trigger": "SpecChanged",
            "job": "j",
            "specHash": "h",
            "startedAt": "2026-01-01T00:00:00Z",
            **candidate,
        }
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"name": "iris", "generation": generation}, "status": status}


@pytest.mark.parametrize(
    ("raw", "target", "expected"),
    [
        pytest.param(
            body("Serving", ready="True"), Target.PROMOTED, Outcome.MET, id="promoted-newest-serves"
        ),
        pytest.param(
            body("Canary", ready="True"),
            Target.PROMOTED,
            None,
            id="promoted-waits-through-the-canary",
        ),
        pytest.param(
            body("Canary", ready="True"),
            Target.SERVING,
            Outcome.MET,
            id="serving-is-met-while-stable-serves",
        ),
        pytest.param(body("Training"), Target.SERVING, None, id="serving-waits-for-training"),
        pytest.param(
            body("Rejected", ready="True"), Target.PROMOTED, Outcome.REJECTED, id="gate-rejected"
        ),
        pytest.param(
            body("Rejected"),
            Target.SERVING,
            Outcome.REJECTED,
            id="gate-rejected-with-nothing-serving",
        ),
        pytest.param(
            body("RolledBack", ready="True"),
            Target.PROMOTED,
            Outcome.ROLLED_BACK,
            id="canary-rolled-back",
        ),
        pytest.param(body("Failed"), Target.PROMOTED, Outcome.FAILED, id="failed"),
        pytest.param(
            body(
                "Failed",
                stalled="True",
                stalled_reason="TrainingFailed",
                candidate={"state": "Failed", "failureReason": "TrainingFailed"},
            ),
            Target.PROMOTED,
            Outcome.FAILED,
            id="training-failed-stalls-with-its-own-reason",
        ),
        pytest.param(
            body(
                "Failed",
                stalled="True",
                stalled_reason="ImageNotAllowed",
                candidate={"state": "Rejected"},
            ),
            Target.PROMOTED,
            Outcome.STALLED,
            id="policy-refusal-after-an-older-rejection",
        ),
        pytest.param(
            body(
                "Rejected",
                stalled="True",
                stalled_reason="NoModelPassed",
                candidate={"state": "Rejected"},
            ),
            Target.PROMOTED,
            Outcome.REJECTED,
            id="rejected-with-nothing-serving-stalls-too",
        ),
        pytest.param(
            body("Failed", stalled="True", stalled_reason="ImageNotAllowed"),
            Target.PROMOTED,
            Outcome.STALLED,
            id="stalled-by-policy",
        ),
        pytest.param(
            body("Pending", stalled="True"),
            Target.SERVING,
            Outcome.STALLED,
            id="stalled-before-anything-serves",
        ),
        pytest.param(
            body("Serving", ready="True", generation=3, observed=2),
            Target.PROMOTED,
            None,
            id="old-generations-serving-says-nothing-of-the-new-spec",
        ),
        pytest.param(
            body("Rejected", generation=3, observed=2),
            Target.PROMOTED,
            None,
            id="old-generations-rejection-says-nothing-either",
        ),
        pytest.param(body("Pending", observed=None), Target.SERVING, None, id="never-observed"),
        pytest.param({"metadata": {"generation": 1}}, Target.SERVING, None, id="no-status"),
    ],
)
def test_each_status_earns_its_exit_code(
    raw: dict[str, Any], target: Target, expected: Outcome | None
) -> None:
    assert outcome(raw, target) == expected


def test_the_exit_codes_are_distinct_and_stable() -> None:
    assert {o.name: int(o) for o in Outcome} == {
        "MET": 0,
        "ERROR": 1,
        "USAGE": 2,
        "REJECTED": 3,
        "ROLLED_BACK": 4,
        "FAILED": 5,
        "STALLED": 6,
        "TIMED_OUT": 7,
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_wait_returns_when_the_status_decides() -> None:
    clock = FakeClock()
    bodies = iter([body("Training"), body("Canary", ready="True"), body("Serving", ready="True")])
    decided, last = wait(
        lambda: next(bodies), Target.PROMOTED, 60, clock=clock, sleep=clock.sleep, poll=2
    )
    assert decided is Outcome.MET and last["status"]["phase"] == "Serving"
    assert clock.slept == [2, 2]


def test_wait_times_out_at_the_deadline_not_a_poll_later() -> None:
    clock = FakeClock()
    decided, last = wait(
        lambda: body("Training"), Target.SERVING, 5, clock=clock, sleep=clock.sleep, poll=2
    )
    assert decided is Outcome.TIMED_OUT and last is not None
    assert clock.slept == [2, 2, 1] and clock.now == 105


def test_a_bad_timeout_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["wait", "iris", "--for", "promoted", "--timeout", "soon"])
    assert exited.value.code == Outcome.USAGE
    assert "--timeout 'soon' is not a duration" in capsys.readouterr().err


def test_wait_documents_its_exit_codes_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["wait", "--help"])
    text = capsys.readouterr().out
    for line in ("3  rejected", "4  rolled back", "6  stalled", "7  timed out"):
        assert line in text
