"""The serving pods and Services expose the Open Inference Protocol's gRPC port too."""

from __future__ import annotations

from builders import serving_intent

from modelpilot.api import names
from modelpilot.operator import objects
from modelpilot.operator.rollout.actions import (
    CreateTrainingJob,
    EnsureService,
    EnsureServingDeployment,
)
from modelpilot.operator.settings import Settings

OWNER = objects.Owner(name="iris", namespace="ml", uid="u-1")
A_DIGEST = "a" * 64  # v2 with v1's digest: the intent hash below was pinned with it


def test_the_serving_container_listens_for_grpc_on_a_named_port():
    action = serving_intent("v2", model_sha256=A_DIGEST)
    container = objects.serving_deployment(action, OWNER, Settings())["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert {"name": "grpc", "containerPort": names.GRPC_PORT} in container["ports"]
    args = container["args"]
    assert args[args.index("--grpc-port") + 1] == str(names.GRPC_PORT)


def test_the_service_names_the_grpc_port_with_its_app_protocol():
    service = objects.service(
        EnsureService(name="iris", model="iris", selector={names.LABEL_MODEL: "iris"}), OWNER
    )
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["grpc"] == {
        "name": "grpc",
        "port": names.GRPC_PORT,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "grpc",
    }
    assert ports["http"]["targetPort"] == "http"


def test_store_mounts_never_chown_the_whole_store_on_each_pod_start():
    # Issue 21 §7: fsGroup alone makes the kubelet walk and chown the whole store claim.
    serving = objects.serving_deployment(
        serving_intent("v2", model_sha256=A_DIGEST),
        OWNER,
        Settings(),
    )
    job = objects.training_job(
        CreateTrainingJob(
            name="iris-train-v2",
            model="iris",
            revision="v2",
            spec_json="{}",
            store_claim="models",
            active_deadline_seconds=60,
            backoff_limit=0,
        ),
        OWNER,
        Settings(),
    )
    for pod in (serving["spec"]["template"]["spec"], job["spec"]["template"]["spec"]):
        assert pod["securityContext"]["fsGroup"] == Settings().pod_uid
        assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"


def test_category_values_reach_metrics_only_when_the_spec_opts_in():
    # Issue 21 §7: spec.monitoring.publishCategoryValues; off, the pod template and intent
    # hash are what they were, so an operator upgrade restarts no serving pod.
    plain = serving_intent("v2", model_sha256=A_DIGEST)
    opted = serving_intent("v2", model_sha256=A_DIGEST, publish_category_values=True)
    assert plain.intent_hash() == "d5a6eebfa4700558"  # the same as before the field existed
    args = {
        name: objects.serving_deployment(a, OWNER, Settings())["spec"]["template"]["spec"][
            "containers"
        ][0]["args"]
        for name, a in (("plain", plain), ("opted", opted))
    }
    assert "--publish-category-values" not in args["plain"]
    assert "--publish-category-values" in args["opted"]
    assert plain.intent_hash() != opted.intent_hash()


def test_a_logging_pod_writes_only_its_own_revisions_log_directory():
    base = {
        "name": "iris-v2",
        "model": "iris",
        "revision": "v2",
        "model_sha256": "a" * 64,
        "store_claim": "models",
        "replicas": 1,
    }
    plain = EnsureServingDeployment(**base)
    logging = EnsureServingDeployment(**base, prediction_log=(0.25, 500, 2.0))
    # Without logging nothing changes, not even the intent (no serving pod restarts).
    assert plain.intent_hash() == EnsureServingDeployment(**base).intent_hash()
    assert logging.intent_hash() != plain.intent_hash()
    settings = Settings()
    pod = objects.serving_deployment(logging, OWNER, settings)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    logs = f"{settings.store_mount_path}/ml/iris/u-1/predictions/v2"
    args = container["args"]
    assert args[args.index("--prediction-log-dir") + 1] == logs
    assert args[args.index("--log-sample-rate") + 1] == "0.25"
    assert args[args.index("--log-max-buffered-rows") + 1] == "500"
    writable = [m for m in container["volumeMounts"] if not m.get("readOnly")]
    assert [m["subPath"] for m in writable if m["name"] == objects.STORE_VOLUME] == [
        "ml/iris/u-1/predictions/v2"
    ]
    bundle = next(m for m in container["volumeMounts"] if m.get("subPath") == "ml/iris/u-1/v2")
    assert bundle["readOnly"] is True
    plain_pod = objects.serving_deployment(plain, OWNER, settings)["spec"]["template"]["spec"]
    assert plain_pod["volumes"][0]["persistentVolumeClaim"]["readOnly"] is True
    assert "--prediction-log-dir" not in plain_pod["containers"][0]["args"]


def test_a_job_that_includes_feedback_reads_every_revisions_logs_read_only():
    action = CreateTrainingJob(
        name="iris-train-v3",
        model="iris",
        revision="v3",
        spec_json="{}",
        store_claim="models",
        active_deadline_seconds=600,
        backoff_limit=0,
        include_feedback=True,
    )
    settings = Settings()
    container = objects.training_job(action, OWNER, settings)["spec"]["template"]["spec"][
        "containers"
    ][0]
    logs = next(
        m for m in container["volumeMounts"] if m.get("subPath") == "ml/iris/u-1/predictions"
    )
    assert logs["readOnly"] is True
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[names.ENV_FEEDBACK_DIR] == f"{settings.store_mount_path}/ml/iris/u-1/predictions"
