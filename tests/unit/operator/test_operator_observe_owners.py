"""Pods count by owner, never by labels alone: a training summary comes only from a pod the
Job controls, and the serving pods analysis scrapes only from the Deployment's ReplicaSets."""

from __future__ import annotations

from modelpilot.api import names
from modelpilot.api.summary import TrainingSummary, encode
from modelpilot.operator.observe import observe
from modelpilot.operator.settings import Settings

MD = {"metadata": {"name": "iris", "namespace": "ml", "uid": "md-uid", "generation": 1}}


def ref(uid: str, kind: str) -> list[dict]:
    return [{"apiVersion": "v1", "kind": kind, "name": "x", "uid": uid, "controller": True}]


def labels(component: str, revision: str = "v1") -> dict:
    return {
        names.LABEL_MODEL: "iris",
        names.LABEL_COMPONENT: component,
        names.LABEL_REVISION: revision,
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
    }


def trainer_pod(name: str, owner_uid: str, sha: str, finished: str) -> dict:
    summary = TrainingSummary(
        ok=True, revision="v1", model_sha256=sha * 64, candidate_score=0.9, metric="accuracy"
    )
    return {
        "metadata": {
            "name": name,
            "labels": labels("trainer"),
            "ownerReferences": ref(owner_uid, "Job"),
        },
        "status": {
            "containerStatuses": [
                {
                    "name": "trainer",
                    "state": {
                        "terminated": {
                            "exitCode": 0,
                            "message": encode(summary),
                            "finishedAt": finished,
                        }
                    },
                }
            ]
        },
    }


def serving_pod(name: str, owner_uid: str, ip: str) -> dict:
    return {
        "metadata": {
            "name": name,
            "labels": labels("serving"),
            "ownerReferences": ref(owner_uid, "ReplicaSet"),
        },
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def world(**objects):
    base = {"jobs": [], "pods": [], "deployments": [], "services": [], "replica_sets": []}
    return observe(MD, settings=Settings(), **{**base, **objects})


JOB = {
    "metadata": {
        "name": "iris-train-v1",
        "uid": "job-uid",
        "labels": labels("trainer"),
        "ownerReferences": ref("md-uid", names.KIND),
    },
    "status": {"conditions": [{"type": "Complete", "status": "True"}]},
}


def test_the_summary_comes_only_from_a_pod_the_job_controls():
    stray = trainer_pod("impostor", "someone-else", "b", "2026-01-01T00:00:09Z")
    own = trainer_pod("iris-train-v1-x", "job-uid", "a", "2026-01-01T00:00:01Z")
    unowned = {**stray, "metadata": {**stray["metadata"], "ownerReferences": []}}
    observed = world(jobs=[JOB], pods=[stray, own, unowned]).jobs["v1"]
    assert observed.summary is not None and observed.summary.model_sha256 == "a" * 64


def test_no_owned_pod_means_no_summary_even_with_a_labelled_one():
    stray = trainer_pod("impostor", "someone-else", "b", "2026-01-01T00:00:09Z")
    assert world(jobs=[JOB], pods=[stray]).jobs["v1"].summary is None


def test_serving_pods_are_found_through_the_deployments_replica_sets():
    deployment = {
        "metadata": {
            "name": "iris-v1",
            "uid": "dep-uid",
            "generation": 1,
            "labels": labels("serving"),
            "ownerReferences": ref("md-uid", names.KIND),
        },
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1},
    }
    rs = {
        "metadata": {
            "name": "iris-v1-abc",
            "uid": "rs-uid",
            "labels": labels("serving"),
            "ownerReferences": ref("dep-uid", "Deployment"),
        }
    }
    foreign_rs = {
        "metadata": {
            "name": "other",
            "uid": "rs-2",
            "labels": labels("serving"),
            "ownerReferences": ref("other-dep", "Deployment"),
        }
    }
    pods = [
        serving_pod("mine", "rs-uid", "10.0.0.1"),
        serving_pod("labelled-only", "rs-2", "10.0.0.66"),
        serving_pod("no-owner", "nobody", "10.0.0.67"),
    ]
    observed = world(deployments=[deployment], replica_sets=[rs, foreign_rs], pods=pods)
    assert observed.deployments["v1"].pod_ips == ("10.0.0.1",)
