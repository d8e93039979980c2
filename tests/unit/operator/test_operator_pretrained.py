"""spec.training.pretrained through the operator: a new digest is a new revision, the trainer
sees the model's directory read-only and nothing more, the platform's policy bounds where the
file may lie, and a refused model fails only its own revision while stable keeps serving."""

from __future__ import annotations

import copy
import json

import pytest
from reconcile_world import NAME, NS, SPEC, World

from modelpilot.api import names
from modelpilot.api.spec import parse_spec
from modelpilot.api.summary import EXIT_PRETRAINED_REFUSED, TrainingSummary
from modelpilot.operator.rollout.policy import local_path_refusal, policy_of, refusal
from modelpilot.operator.rollout.triggers import estimator_refusal, spec_hash
from modelpilot.operator.settings import load_settings

DIGEST = "ab" * 32
POLICY = policy_of(load_settings({}))


def pretrained_spec(uri: str = "/models/pretrained/churn.joblib", sha256: str = DIGEST) -> dict:
    spec = copy.deepcopy(SPEC)
    spec["training"] = {
        "dataset": {"uri": "/models/data/churn.csv", "target": "churned"},
        "pretrained": {"uri": uri, "sha256": sha256},
    }
    return spec


def _mounts(container: dict) -> list[tuple[str, str | None, bool]]:
    return [
        (m["mountPath"], m.get("subPath"), bool(m.get("readOnly")))
        for m in container["volumeMounts"]
    ]


def test_the_trainer_sees_the_models_directory_read_only_and_gets_the_digest():
    w = World(pretrained_spec())
    w.tick()
    uid = w.cluster.get(names.KIND, NS, NAME)["metadata"]["uid"]
    pod = w.cluster.get("Job", NS, f"{NAME}-train-v1")["spec"]["template"]["spec"]
    [trainer] = pod["containers"]
    v1 = f"ml/iris/{uid}/v1"
    assert _mounts(trainer) == [
        (f"/models/{v1}", v1, False),
        ("/models/data", "data", True),
        ("/models/pretrained", "pretrained", True),
        ("/tmp", None, False),
    ]
    env = {e["name"]: e.get("value") for e in trainer["env"]}
    sent = json.loads(env[names.ENV_SPEC_JSON])["training"]
    assert sent["pretrained"] == {"uri": "/models/pretrained/churn.joblib", "sha256": DIGEST}
    assert "estimator" not in sent
    assert w.status().candidate.estimator is None


def test_a_model_beside_the_data_is_mounted_once():
    w = World(pretrained_spec("/models/data/churn.joblib"))
    w.tick()
    [trainer] = w.cluster.get("Job", NS, f"{NAME}-train-v1")["spec"]["template"]["spec"][
        "containers"
    ]
    assert [m for m in _mounts(trainer) if m[1] == "data"] == [("/models/data", "data", True)]


def test_a_new_digest_in_git_is_a_new_revision():
    w = World(pretrained_spec())
    w.tick()
    w.serve("v1", 0.9)
    assert w.status().phase == "Serving"
    w.assert_converged()

    w.cluster.apply_model_deployment(NS, NAME, pretrained_spec(sha256="cd" * 32))
    w.tick()
    candidate = w.status().candidate
    assert (candidate.revision, candidate.trigger) == ("v2", "SpecChanged")
    assert spec_hash(parse_spec(pretrained_spec())) != spec_hash(
        parse_spec(pretrained_spec(sha256="cd" * 32))
    )


def test_a_refused_model_fails_its_revision_by_name_and_stable_keeps_serving():
    w = World(pretrained_spec())
    w.tick()
    w.serve("v1", 0.9)
    w.cluster.apply_model_deployment(NS, NAME, pretrained_spec(sha256="cd" * 32))
    w.tick()
    error = (
        "pretrained model refused: /models/pretrained/churn.joblib has sha256 "
        f"{DIGEST}, but spec.training.pretrained.sha256 is {'cd' * 32}: refusing to unpickle it"
    )
    w.cluster.finish_job(
        NS,
        f"{NAME}-train-v2",
        TrainingSummary(ok=False, revision="v2", exit_code=EXIT_PRETRAINED_REFUSED, error=error),
        failed=True,
    )
    w.tick()

    status = w.status()
    assert status.candidate.failure_reason == "PretrainedModelRefused"
    stalled = w.condition("Stalled")
    assert (stalled.status, stalled.reason) == ("True", "PretrainedModelRefused")
    assert "spec.training.pretrained.sha256 is" in stalled.message
    assert w.condition("Trained").reason == "PretrainedModelRefused"
    assert status.stable.revision == "v1" and w.deployments() == [f"{NAME}-v1"]


def test_the_estimator_allowlist_is_the_trainers_to_apply_to_a_pretrained_model():
    assert estimator_refusal(parse_spec(pretrained_spec()), ("sklearn.tree.*",)) is None


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("/etc/passwd", "outside the model store"),
        ("/models/../etc/model.pkl", "outside the model store"),
        ("file:///models/../../x.pkl", "outside the model store"),
        ("/models/model.joblib", "lies at the store's root"),
    ],
)
def test_a_local_model_outside_a_store_directory_is_refused(uri, why):
    found = refusal(
        parse_spec(pretrained_spec(uri)),
        POLICY,
        claim="models",
        claim_labels={names.LABEL_MODEL_STORE: "true"},
    )
    assert found is not None and found.reason == "PretrainedNotAllowed"
    assert found.message.startswith(f"spec.training.pretrained.uri {uri!r}")
    assert why in found.message


def test_a_model_in_a_store_directory_is_allowed():
    assert local_path_refusal("file:///models/team/m.joblib", POLICY) is None
    found = refusal(
        parse_spec(pretrained_spec()),
        POLICY,
        claim="models",
        claim_labels={names.LABEL_MODEL_STORE: "true"},
    )
    assert found is None
