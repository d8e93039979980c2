"""A serving pod whose init step fails (an S3 store's fetch-bundle refusing a bundle by its
digest) is never Ready; the operator says why, from the init container's status."""

from __future__ import annotations

from modelpilot.operator.observe import observe_deployment

REFUSED = "fetch-bundle: /models/ml/iris/u/v1/model.joblib has sha256 0f, expected ab: refusing"


def _deployment() -> dict:
    return {
        "metadata": {
            "name": "iris-v1",
            "generation": 1,
            "labels": {"modelpilot.dev/revision": "v1"},
        },
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1},
    }


def _pod(init_status: dict) -> dict:
    return {
        "metadata": {"name": "iris-v1-abc"},
        "status": {
            "initContainerStatuses": [{"name": "fetch-bundle", **init_status}],
            "containerStatuses": [
                {
                    "name": "server",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "PodInitializing"}},
                }
            ],
        },
    }


def test_a_crash_looping_init_step_is_the_pods_problem():
    pod = _pod(
        {
            "ready": False,
            "restartCount": 2,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "message": REFUSED}},
        }
    )
    problem = observe_deployment(_deployment(), [pod]).pod_problem
    assert problem == f"pod iris-v1-abc: CrashLoopBackOff: {REFUSED}"


def test_a_failed_init_step_of_a_pod_that_never_restarts_is_named():
    pod = _pod(
        {
            "ready": False,
            "restartCount": 0,
            "state": {"terminated": {"exitCode": 1, "message": REFUSED}},
        }
    )
    problem = observe_deployment(_deployment(), [pod]).pod_problem
    assert problem == f"pod iris-v1-abc: init container fetch-bundle failed: {REFUSED}"
