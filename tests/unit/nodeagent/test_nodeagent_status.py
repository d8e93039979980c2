"""Process exits -> container status, pod phase and conditions, restarts and back-off."""

from __future__ import annotations

import pytest
from nodeagent.provisioner import volume_for_claim
from nodeagent.status import (
    RUNNING,
    TERMINATED,
    WAITING,
    ContainerRun,
    container_status,
    exit_code_of,
    merge_conditions,
    owned_conditions,
    pod_phase,
    restart_backoff,
    should_restart,
    terminated_reason,
)


def run(state: str = WAITING, exit_code: int | None = None, **kw) -> ContainerRun:
    return ContainerRun("c", state=state, exit_code=exit_code, **kw)


def done(code: int) -> ContainerRun:
    return run(TERMINATED, code)


@pytest.mark.parametrize(
    ("returncode", "expected"),
    [(0, (0, None)), (1, (1, None)), (-15, (143, 15)), (-9, (137, 9))],
    ids=["success", "failure", "sigterm", "sigkill"],
)
def test_exit_codes_as_a_runtime_reports_them(returncode: int, expected) -> None:
    assert exit_code_of(returncode) == expected


@pytest.mark.parametrize(
    ("code", "kw", "reason"),
    [
        (0, {}, "Completed"),
        (2, {}, "Error"),
        (128, {"start_error": True}, "StartError"),
        (137, {"deadline": True}, "DeadlineExceeded"),
    ],
    ids=["completed", "error", "start-error", "deadline"],
)
def test_terminated_reason(code: int, kw: dict, reason: str) -> None:
    assert terminated_reason(code, **kw) == reason


@pytest.mark.parametrize(
    ("policy", "code", "restart"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 1, True),
        ("Never", 1, False),
    ],
)
def test_restart_policy(policy: str, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [restart_backoff(n) for n in range(0, 8)] == [0, 2, 4, 8, 16, 32, 60, 60]


@pytest.mark.parametrize(
    ("policy", "init", "main", "stopping", "phase"),
    [
        pytest.param("Never", [], [run()], False, "Pending", id="not-started-is-pending"),
        pytest.param("Never", [], [run(RUNNING)], False, "Running", id="running"),
        pytest.param("Never", [], [done(0), done(0)], False, "Succeeded", id="all-exit-0"),
        pytest.param("Never", [], [done(0), done(1)], False, "Failed", id="one-failed"),
        pytest.param("Never", [], [done(0), run(RUNNING)], False, "Running", id="one-left"),
        pytest.param("OnFailure", [], [done(1)], False, "Running", id="onfailure-restarts"),
        pytest.param("OnFailure", [], [done(0)], False, "Succeeded", id="onfailure-success"),
        pytest.param("Always", [], [done(0)], False, "Running", id="always-restarts"),
        pytest.param("Always", [], [done(143)], True, "Failed", id="deleted-killed-fails"),
        pytest.param("Always", [], [done(0)], True, "Succeeded", id="deleted-clean-exit"),
        pytest.param("Never", [run(RUNNING)], [run()], False, "Pending", id="init-running"),
        pytest.param("Never", [done(1)], [run()], False, "Failed", id="init-failed-never"),
        pytest.param("Always", [done(1)], [run()], False, "Pending", id="init-failed-retries"),
        pytest.param("Never", [done(0)], [run(RUNNING)], False, "Running", id="init-done"),
        pytest.param(
            "Always",
            [],
            [run(last_terminated={"exitCode": 1})],
            False,
            "Running",
            id="crash-loop-is-running",
        ),
    ],
)
def test_pod_phase(policy, init, main, stopping, phase) -> None:
    assert pod_phase(policy, init, main, stopping=stopping) == phase


def test_container_status_shapes() -> None:
    r = run(
        TERMINATED,
        1,
        reason="Error",
        message='{"ok": false}',
        started_at="t0",
        finished_at="t1",
        restart_count=2,
        container_id="nodeagent://u/c/2",
        last_terminated={"exitCode": 1, "reason": "Error"},
    )
    status = container_status(r)
    assert status["state"] == {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "message": '{"ok": false}',
            "startedAt": "t0",
            "finishedAt": "t1",
            "containerID": "nodeagent://u/c/2",
        }
    }
    assert status["lastState"] == {"terminated": {"exitCode": 1, "reason": "Error"}}
    assert status["restartCount"] == 2
    assert status["ready"] is False
    waiting = container_status(run(WAITING, reason="CreateContainerError", message="no command"))
    assert waiting["state"] == {
        "waiting": {"reason": "CreateContainerError", "message": "no command"}
    }


def test_conditions_keep_foreign_ones_and_transition_times() -> None:
    previous = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "t0"},
        {"type": "Ready", "status": "False", "lastTransitionTime": "t1"},
        {"type": "Initialized", "status": "True", "lastTransitionTime": "t1"},
    ]
    out = merge_conditions(previous, {"Ready": (True, ""), "Initialized": (True, "")}, "t2")
    by_type = {c["type"]: c for c in out}
    assert by_type["PodScheduled"]["lastTransitionTime"] == "t0"
    assert by_type["Ready"] == {
        "type": "Ready",
        "status": "True",
        "lastTransitionTime": "t2",
        "lastProbeTime": None,
    }
    assert by_type["Initialized"]["lastTransitionTime"] == "t1"


def test_ready_only_when_every_container_is_ready() -> None:
    ready = owned_conditions(
        sandbox_ready=True,
        init_runs=[],
        runs=[run(RUNNING, ready=True), run(RUNNING, ready=False)],
        phase="Running",
    )
    assert ready["Ready"] == (False, "ContainersNotReady")
    ready = owned_conditions(
        sandbox_ready=True, init_runs=[], runs=[run(RUNNING, ready=True)], phase="Running"
    )
    assert ready["Ready"] == (True, "")
    completed = owned_conditions(
        sandbox_ready=True, init_runs=[], runs=[done(0)], phase="Succeeded"
    )
    assert completed["Ready"] == (False, "PodCompleted")


def test_provisioned_volume_is_prebound_to_its_claim(tmp_path) -> None:
    pvc = {
        "metadata": {"name": "models", "namespace": "ml", "uid": "abc"},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "2Gi"}}},
    }
    sc = {"metadata": {"name": "standard"}, "reclaimPolicy": "Delete"}
    pv = volume_for_claim(pvc, storage_class=sc, root=tmp_path)
    assert pv["metadata"]["name"] == "pvc-abc"
    assert pv["spec"]["claimRef"] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": "ml",
        "name": "models",
        "uid": "abc",
    }
    assert pv["spec"]["hostPath"]["path"] == str(tmp_path / "pvc-abc")
    assert pv["spec"]["capacity"] == {"storage": "2Gi"}
    assert pv["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pv["spec"]["storageClassName"] == "standard"
