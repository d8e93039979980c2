"""spec.training.pod / spec.serving.pod reach every pod the operator creates, over the
platform's defaults, without ever replacing the labels the operator's selectors rely on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from builders import SVC, serving_intent, spec_dict
from pydantic import ValidationError

from modelpilot.api import names, s3
from modelpilot.api.pod_spec import PodPlacement
from modelpilot.api.spec import parse_spec
from modelpilot.api.status import ModelDeploymentStatus, StableStatus
from modelpilot.operator import objects
from modelpilot.operator.placement import merged, placed
from modelpilot.operator.rollout import World, plan
from modelpilot.operator.rollout.actions import CreateTrainingJob, EnsureServingDeployment
from modelpilot.operator.rollout.policy import policy_of
from modelpilot.operator.settings import Settings, SettingsError, load_settings

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OWNER = objects.Owner(name="iris", namespace="ml", uid="u-1")
STORE_LABELS = {names.LABEL_MODEL_STORE: "true"}
TAINT = {"key": "dedicated", "operator": "Equal", "value": "models", "effect": "NoSchedule"}
POD = {
    "nodeSelector": {"pool": "models"},
    "tolerations": [TAINT],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}
                ]
            }
        }
    },
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {names.LABEL_MODEL: "iris"}},
        }
    ],
    "priorityClassName": "models-high",
    "serviceAccountName": "s3-reader",
    "imagePullSecrets": [{"name": "registry-keys"}],
    "labels": {"team": "fraud"},
    "annotations": {"cost-center": "42"},
}
ALLOWING = {
    "MODELPILOT_PRIORITY_CLASS_ALLOWLIST": "models-*",
    "MODELPILOT_SERVICE_ACCOUNT_ALLOWLIST": "s3-reader",
}


def _raw(**sections: Any) -> dict[str, Any]:
    raw = spec_dict(SVC, threshold=0.5)
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return raw


def _world(settings: Settings) -> World:
    return World(
        name="iris",
        namespace="ml",
        generation=1,
        policy=policy_of(settings),
        store_claim_labels=STORE_LABELS,
    )


def _training_job(raw: dict[str, Any], settings: Settings) -> dict[str, Any]:
    result = plan(parse_spec(raw), ModelDeploymentStatus(), _world(settings), NOW)
    (action,) = [a for a in result.actions if isinstance(a, CreateTrainingJob)]
    return objects.training_job(action, OWNER, settings)


def _serving_deployment(raw: dict[str, Any], settings: Settings) -> dict[str, Any]:
    status = ModelDeploymentStatus(
        stable=StableStatus(
            revision="v1", model_sha256="a" * 64, deployment="iris-v1", service="iris"
        ),
        revision_counter=1,
    )
    result = plan(parse_spec(raw), status, _world(settings), NOW)
    (action,) = [a for a in result.actions if isinstance(a, EnsureServingDeployment)]
    return objects.serving_deployment(action, OWNER, settings)


def test_training_pods_get_every_placement_field_the_spec_names() -> None:
    settings = load_settings(ALLOWING)
    template = _training_job(_raw(training={"pod": POD}), settings)["spec"]["template"]
    pod = template["spec"]
    for key in (
        "nodeSelector",
        "tolerations",
        "affinity",
        "topologySpreadConstraints",
        "priorityClassName",
        "serviceAccountName",
        "imagePullSecrets",
    ):
        assert pod[key] == POD[key], key
    assert template["metadata"]["labels"]["team"] == "fraud"
    assert template["metadata"]["labels"][names.LABEL_COMPONENT] == "trainer"
    assert template["metadata"]["annotations"] == {"cost-center": "42"}
    # A ServiceAccount for a cloud identity; still no Kubernetes API token in the pod.
    assert pod["automountServiceAccountToken"] is False


def test_serving_pods_get_the_serving_placement_and_keep_their_selector_labels() -> None:
    settings = load_settings(ALLOWING)
    deployment = _serving_deployment(_raw(serving={"pod": POD}), settings)
    template = deployment["spec"]["template"]
    assert template["spec"]["tolerations"] == [TAINT]
    assert template["spec"]["priorityClassName"] == "models-high"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()
    assert template["metadata"]["labels"]["team"] == "fraud"
    # the digest the server checks stays the operator's
    assert template["metadata"]["annotations"][objects.ANNOTATION_MODEL_SHA256] == "a" * 64


def test_training_placement_does_not_leak_onto_serving_pods() -> None:
    settings = load_settings(ALLOWING)
    raw = _raw(training={"pod": POD})
    pod = _serving_deployment(raw, settings)["spec"]["template"]["spec"]
    assert "tolerations" not in pod and "priorityClassName" not in pod


def test_the_data_probe_runs_with_the_training_placement() -> None:
    settings = load_settings(ALLOWING)
    dataset = {"uri": "/models/data/x.csv", "target": "y", "watch": {"interval": "1m"}}
    raw = _raw(training={"pod": POD, "dataset": dataset})
    status = ModelDeploymentStatus(
        stable=StableStatus(
            revision="v1", model_sha256="a" * 64, deployment="iris-v1", service="iris"
        ),
        revision_counter=1,
    )
    result = plan(parse_spec(raw), status, _world(settings), NOW)
    probes = [a for a in result.actions if isinstance(a, CreateTrainingJob) and a.fingerprint_only]
    assert probes
    pod = objects.training_job(probes[0], OWNER, settings)["spec"]["template"]["spec"]
    assert pod["tolerations"] == [TAINT] and pod["serviceAccountName"] == "s3-reader"


def test_user_labels_never_replace_the_operators_even_past_validation() -> None:
    """The CRD and parse_spec refuse such labels; placed() is the second line, for a
    placement that came some other way (the chart's default, built by hand)."""
    hostile = PodPlacement.model_construct(
        labels={names.LABEL_MODEL: "other", names.LABEL_REVISION: "v9", "team": "a"},
        annotations={objects.ANNOTATION_MODEL_SHA256: "b" * 64},
    )
    template = {
        "metadata": {
            "labels": {names.LABEL_MODEL: "iris", names.LABEL_REVISION: "v1"},
            "annotations": {objects.ANNOTATION_MODEL_SHA256: "a" * 64},
        },
        "spec": {},
    }
    out = placed(template, hostile)
    assert out["metadata"]["labels"] == {
        names.LABEL_MODEL: "iris",
        names.LABEL_REVISION: "v1",
        "team": "a",
    }
    assert out["metadata"]["annotations"] == {objects.ANNOTATION_MODEL_SHA256: "a" * 64}
    assert template["metadata"]["labels"][names.LABEL_MODEL] == "iris"  # input untouched


@pytest.mark.parametrize(
    "key", [names.LABEL_MODEL, names.LABEL_COMPONENT, "app.kubernetes.io/name"]
)
def test_a_spec_naming_a_reserved_label_is_refused_by_name(key: str) -> None:
    with pytest.raises(ValidationError, match=f"pod.labels may not set {key}"):
        parse_spec(_raw(serving={"pod": {"labels": {key: "x"}}}))


def test_the_platforms_defaults_apply_and_the_spec_merges_over_them() -> None:
    default = {
        "nodeSelector": {"pool": "models"},
        "tolerations": [TAINT],
        "labels": {"platform": "ml"},
        "priorityClassName": "models-normal",
    }
    settings = load_settings({"MODELPILOT_TRAINING_POD": json.dumps(default), **ALLOWING})
    plain = _training_job(_raw(), settings)["spec"]["template"]
    assert plain["spec"]["nodeSelector"] == {"pool": "models"}
    assert plain["spec"]["tolerations"] == [TAINT]
    assert plain["metadata"]["labels"]["platform"] == "ml"

    mine = {"nodeSelector": {"zone": "a"}, "tolerations": [], "labels": {"team": "x"}}
    template = _training_job(_raw(training={"pod": mine}), settings)["spec"]["template"]
    # maps merge key by key; other fields the spec sets replace the default's
    assert template["spec"]["nodeSelector"] == {"pool": "models", "zone": "a"}
    assert template["spec"]["tolerations"] == []
    assert template["spec"]["priorityClassName"] == "models-normal"
    assert template["metadata"]["labels"]["platform"] == "ml"
    assert template["metadata"]["labels"]["team"] == "x"


def test_merged_of_nothing_is_nothing() -> None:
    assert merged(None, None) is None
    only = PodPlacement(priority_class_name="p")
    assert merged(only, None) is only and merged(None, only) is only


def test_a_bad_default_placement_stops_the_operator_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"MODELPILOT_SERVING_POD.*tolerations"):
        load_settings({"MODELPILOT_SERVING_POD": '{"tolerations": [{"effect": "Sometimes"}]}'})


def test_run_as_user_can_be_left_to_the_platform() -> None:
    fixed = _training_job(_raw(), load_settings({}))["spec"]["template"]["spec"]
    assert fixed["securityContext"]["runAsUser"] == 65532
    assigned = load_settings({"MODELPILOT_POD_UID": "none"})
    assert assigned.pod_uid is None
    for pod in (
        _training_job(_raw(), assigned)["spec"]["template"]["spec"],
        _serving_deployment(_raw(), assigned)["spec"]["template"]["spec"],
    ):
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True
        assert not {"runAsUser", "runAsGroup", "fsGroup"} & context.keys()
    with pytest.raises(SettingsError, match="MODELPILOT_POD_UID"):
        load_settings({"MODELPILOT_POD_UID": "root"})


def test_s3_without_a_secret_gives_the_pods_the_default_chain_and_no_secret_refs() -> None:
    settings = load_settings(ALLOWING)
    raw = _raw(
        serving={"pod": {"serviceAccountName": "s3-reader"}},
        training={"pod": {"serviceAccountName": "s3-reader"}},
    )
    raw["modelStore"] = {"s3": {"bucket": "models", "region": "eu-west-1"}}
    for obj in (_training_job(raw, settings), _serving_deployment(raw, settings)):
        pod = obj["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "s3-reader"
        containers = [*pod["initContainers"], *pod["containers"]]
        text = json.dumps(containers)
        assert "secretKeyRef" not in text
        s3_users = [c for c in containers if c["name"] in ("trainer", "fetch-bundle")]
        assert s3_users
        for container in s3_users:
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env[s3.ENV_S3_CREDENTIALS] == s3.DEFAULT_CHAIN


@pytest.mark.parametrize(
    ("value", "text"),
    [(1, "1"), ("500m", "500m"), ("1.5", "1.5"), (2, "2"), ("2Gi", "2Gi"), ("1e3", "1e3")],
)
def test_resources_are_kubernetes_quantities_integer_or_string(value: Any, text: str) -> None:
    raw = _raw(serving={"resources": {"requests": {"cpu": value}, "limits": {"memory": "1Gi"}}})
    container = _serving_deployment(raw, load_settings({}))["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["resources"] == {"requests": {"cpu": text}, "limits": {"memory": "1Gi"}}


@pytest.mark.parametrize("value", ["lots", "1 Gi", "", "-", True, 0.5])
def test_a_value_that_is_no_quantity_is_refused(value: Any) -> None:
    with pytest.raises(ValidationError, match=r"requests\.cpu"):
        parse_spec(_raw(training={"resources": {"requests": {"cpu": value}}}))


def test_a_pod_placement_changes_the_serving_intent_and_none_keeps_the_old_one() -> None:
    base = serving_intent("v1")
    tolerant = EnsureServingDeployment(
        **{**base.__dict__, "pod": PodPlacement.model_validate({"tolerations": [TAINT]})}
    )
    assert base.intent_hash() != tolerant.intent_hash()


def test_json_logs_reach_the_serving_pods_and_text_leaves_their_template_alone() -> None:
    text = _serving_deployment(_raw(), load_settings({}))
    env = text["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "MODELPILOT_LOG_FORMAT" not in {e["name"] for e in env}
    as_json = _serving_deployment(_raw(), load_settings({"MODELPILOT_LOG_FORMAT": "json"}))
    env = as_json["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "MODELPILOT_LOG_FORMAT", "value": "json"} in env
    with pytest.raises(SettingsError, match="MODELPILOT_LOG_FORMAT='xml'"):
        load_settings({"MODELPILOT_LOG_FORMAT": "xml"})
