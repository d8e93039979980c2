"""Pods of a ModelDeployment with spec.modelStore.s3: the Secret reaches only the containers
that talk to S3, as secretKeyRef (the operator never reads it), and the store is an emptyDir."""

from __future__ import annotations

import json

from builders import serving_intent

from modelpilot.api import s3
from modelpilot.api.spec import S3Access, S3Store
from modelpilot.operator import objects
from modelpilot.operator.rollout.actions import CreateTrainingJob, EnsureServingDeployment
from modelpilot.operator.settings import Settings

UID = "0b6f3c1e-1111-4222-8333-944455556666"
OWNER = objects.Owner(name="iris", namespace="ml", uid=UID)
STORE = S3Store(
    bucket="models", prefix="mp", endpoint="http://minio:9000", credentials_secret="store-keys"
)


def _env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _job(**extra) -> dict:
    action = CreateTrainingJob(
        name="iris-train-v2",
        model="iris",
        revision="v2",
        spec_json="{}",
        store_claim=None,
        active_deadline_seconds=60,
        backoff_limit=0,
        stable_revision="v1",
        stable_sha256="a" * 64,
        keep_revisions=("v1",),
        store_s3=STORE,
        **extra,
    )
    return objects.training_job(action, OWNER, Settings())


def test_the_trainer_gets_the_store_and_the_secrets_keys_by_reference():
    pod = _job()["spec"]["template"]["spec"]
    assert pod["initContainers"] == [], "S3 garbage collection is the trainer's"
    assert pod["volumes"][0] == {"name": objects.STORE_VOLUME, "emptyDir": {}}
    [trainer] = pod["containers"]
    env = _env(trainer)
    assert env[s3.ENV_S3_BUCKET] == "models" and env[s3.ENV_S3_PREFIX] == "mp"
    assert env[s3.ENV_S3_ENDPOINT] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "store-keys", "key": "AWS_ACCESS_KEY_ID"}
    }
    assert env["AWS_SESSION_TOKEN"] == {
        "secretKeyRef": {"name": "store-keys", "key": "AWS_SESSION_TOKEN", "optional": True}
    }
    assert env["MODELPILOT_KEEP_REVISIONS"] == "v1"
    assert env["MODELPILOT_STABLE_DIR"] == f"/models/ml/iris/{UID}/v1"
    assert trainer["volumeMounts"][0] == {"name": objects.STORE_VOLUME, "mountPath": "/models"}


def test_an_s3_dataset_gets_its_own_access_under_the_data_prefix():
    data = S3Access(endpoint="https://s3.eu", region="eu-west-1", credentials_secret="data-keys")
    env = _env(
        _job(dataset_s3=data, dataset_uri="s3://data/x.csv")["spec"]["template"]["spec"][
            "containers"
        ][0]
    )
    assert env["MODELPILOT_DATA_S3_ENDPOINT"] == "https://s3.eu"
    assert env["MODELPILOT_DATA_AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "data-keys", "key": "AWS_SECRET_ACCESS_KEY"}
    }


def _serving(store_s3: S3Store | None) -> EnsureServingDeployment:
    return serving_intent("v2", store_claim=None if store_s3 else "models", store_s3=store_s3)


def test_serving_pods_fetch_and_verify_in_an_init_step_the_server_never_sees_the_keys():
    pod = objects.serving_deployment(_serving(STORE), OWNER, Settings())["spec"]["template"]["spec"]
    [fetch] = pod["initContainers"]
    assert fetch["command"] == ["modelpilot", "fetch-bundle"]
    args = fetch["args"]
    assert args[args.index("--key-prefix") + 1] == f"mp/ml/iris/{UID}/v2/"
    assert args[args.index("--expected-sha256") + 1] == "b" * 64
    assert args[args.index("--model-dir") + 1] == f"/models/ml/iris/{UID}/v2"
    assert "secretKeyRef" in json.dumps(fetch["env"])
    [server] = pod["containers"]
    assert "valueFrom" not in json.dumps(server["env"])
    assert {"name": objects.STORE_VOLUME, "emptyDir": {}} in pod["volumes"]
    mount = server["volumeMounts"][0]
    assert mount["readOnly"] and mount["mountPath"] == f"/models/ml/iris/{UID}/v2"


def test_a_pvc_deployments_intent_hash_is_what_it_was_before_s3_stores():
    # The hash of an action without store_s3 must not change: an operator upgrade would
    # otherwise restart every serving pod.
    action = _serving(None)
    assert action.intent_hash() == "d3276244a8b7ab03"  # main before S3 stores
    assert _serving(STORE).intent_hash() != action.intent_hash()
