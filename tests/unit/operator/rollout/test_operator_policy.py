"""Platform policy: tenant-chosen values are checked against the operator's settings, a refused
value is Stalled with the setting that allows it, and nothing that serves changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from builders import SVC, spec_dict

from modelpilot.api import names
from modelpilot.api.spec import parse_spec
from modelpilot.api.status import (
    MESSAGE_LIMIT_BYTES,
    ModelDeploymentStatus,
    StableStatus,
    dump_status,
    parse_status,
)
from modelpilot.operator.rollout import ObservedDeployment, ObservedService, World, plan
from modelpilot.operator.rollout.actions import CreateTrainingJob
from modelpilot.operator.rollout.policy import Policy, dataset_refusal, policy_of, refusal
from modelpilot.operator.settings import SettingsError, load_settings

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STORE = {names.LABEL_MODEL_STORE: "true"}
POLICY = policy_of(load_settings({}))
BASE = spec_dict(SVC, threshold=0.5)


def spec(**changes: object) -> dict:
    out = {k: dict(v) for k, v in BASE.items()}
    for path, value in changes.items():
        section, _, key = path.partition("__")
        out.setdefault(section, {})[key] = value
    return out


def world(*, policy: Policy = POLICY, labels: dict | None = STORE, **kw: object) -> World:
    return World(
        name="iris",
        namespace="ml",
        generation=1,
        policy=policy,
        store_claim_labels=labels,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("raw", "labels", "reason", "names_setting"),
    [
        pytest.param(
            spec(training__image="evil.example/miner:1"),
            STORE,
            "ImageNotAllowed",
            "MODELPILOT_IMAGE_ALLOWLIST (Helm value policy.imageAllowlist)",
            id="trainer-image-outside-the-allowlist",
        ),
        pytest.param(
            spec(serving__image="evil.example/serve:1"),
            STORE,
            "ImageNotAllowed",
            "MODELPILOT_IMAGE_ALLOWLIST",
            id="serving-image-outside-the-allowlist",
        ),
        pytest.param(
            spec(),
            {},
            "ModelStoreNotAllowed",
            "MODELPILOT_STORE_CLAIM_ALLOWLIST (Helm value policy.storeClaimAllowlist)",
            id="claim-without-the-model-store-label",
        ),
        pytest.param(
            spec(),
            None,
            "ModelStoreNotFound",
            "modelpilot.dev/model-store=true",
            id="claim-that-does-not-exist",
        ),
        pytest.param(
            spec(
                rollout__analysis={
                    "metricsSource": {"prometheus": {"address": "http://10.0.0.1:9090"}}
                }
            ),
            STORE,
            "PrometheusNotAllowed",
            "MODELPILOT_PROMETHEUS_ALLOWLIST (Helm value policy.prometheusAllowlist)",
            id="prometheus-address-not-allowed",
        ),
        pytest.param(
            spec(training__dataset={"uri": "http://169.254.169.254/x.csv", "target": "y"}),
            STORE,
            "DatasetNotAllowed",
            "MODELPILOT_DATASET_SCHEMES (Helm value policy.datasetSchemes)",
            id="dataset-scheme-not-allowed",
        ),
        pytest.param(
            spec(training__dataset={"uri": "/etc/passwd", "target": "y"}),
            STORE,
            "DatasetNotAllowed",
            "outside the model store",
            id="dataset-local-path-outside-the-store",
        ),
        pytest.param(
            spec(serving__pod={"priorityClassName": "system-cluster-critical"}),
            STORE,
            "PriorityClassNotAllowed",
            "spec.serving.pod.priorityClassName 'system-cluster-critical' is not allowed",
            id="serving-priority-class-not-allowed",
        ),
        pytest.param(
            spec(training__pod={"serviceAccountName": "cluster-admin-sa"}),
            STORE,
            "ServiceAccountNotAllowed",
            "MODELPILOT_SERVICE_ACCOUNT_ALLOWLIST (Helm value policy.serviceAccountAllowlist)",
            id="training-service-account-not-allowed",
        ),
    ],
)
def test_a_refused_value_stalls_with_the_setting_and_starts_nothing(
    raw: dict, labels: dict | None, reason: str, names_setting: str
) -> None:
    result = plan(parse_spec(raw), ModelDeploymentStatus(), world(labels=labels), NOW)
    stalled = result.status.condition("Stalled")
    assert stalled is not None and stalled.status == "True"
    assert stalled.reason == reason
    assert names_setting in stalled.message
    assert not any(isinstance(a, CreateTrainingJob) for a in result.actions)
    assert result.status.revision_counter == 0
    assert [e.reason for e in result.events] == [reason]


def test_a_refused_image_on_a_serving_model_leaves_stable_as_it_is() -> None:
    status = ModelDeploymentStatus(
        stable=StableStatus(
            revision="v1", model_sha256="a" * 64, deployment="iris-v1", service="iris"
        ),
        revision_counter=1,
    )
    observed = world(
        deployments={"v1": ObservedDeployment("iris-v1", "v1", replicas=1, ready_replicas=1)},
        services={"iris": ObservedService("iris"), "iris-v1": ObservedService("iris-v1")},
    )
    result = plan(parse_spec(spec(serving__image="evil/serve:1")), status, observed, NOW)
    assert result.actions == ()
    assert result.status.stable == status.stable
    assert result.status.condition("Stalled").reason == "ImageNotAllowed"


@pytest.mark.parametrize(
    ("raw", "policy", "labels"),
    [
        pytest.param(
            spec(training__image="ghcr.io/modelpilot/trainer:0.1.0"),
            POLICY,
            STORE,
            id="the-operators-own-trainer-image",
        ),
        pytest.param(
            spec(training__image="registry.corp/ml/trainer:7"),
            policy_of(load_settings({"MODELPILOT_IMAGE_ALLOWLIST": "registry.corp/ml/*"})),
            STORE,
            id="an-image-matching-a-configured-pattern",
        ),
        pytest.param(
            spec(),
            policy_of(load_settings({"MODELPILOT_STORE_CLAIM_ALLOWLIST": "models"})),
            {},
            id="an-unlabelled-claim-in-the-allowlist",
        ),
        pytest.param(
            spec_dict(SVC, threshold=0.5, store=False),
            policy_of(load_settings({"MODELPILOT_DEFAULT_STORE_PVC": "shared"})),
            None,
            id="the-operators-default-store",
        ),
        pytest.param(
            spec(
                rollout__analysis={
                    "metricsSource": {"prometheus": {"address": "http://prom.mon:9090/"}}
                }
            ),
            policy_of(load_settings({"MODELPILOT_PROMETHEUS_ALLOWLIST": "http://prom.mon:9090"})),
            STORE,
            id="a-configured-prometheus",
        ),
        pytest.param(
            spec(
                training__dataset={
                    "uri": "s3://bucket/x.parquet",
                    "target": "y",
                    "s3": {"credentialsSecret": "data-keys"},
                }
            ),
            POLICY,
            STORE,
            id="an-s3-dataset",
        ),
        pytest.param(
            spec(training__dataset={"uri": "/models/data/x.csv", "target": "y"}),
            POLICY,
            STORE,
            id="a-dataset-inside-the-store",
        ),
        pytest.param(
            spec(
                training__pod={"priorityClassName": "batch-low"},
                serving__pod={"priorityClassName": "models-high"},
            ),
            policy_of(
                load_settings({"MODELPILOT_PRIORITY_CLASS_ALLOWLIST": "batch-*,models-high"})
            ),
            STORE,
            id="priority-classes-matching-the-allowlist",
        ),
        pytest.param(
            spec(serving__pod={"serviceAccountName": "s3-reader"}),
            policy_of(
                load_settings({"MODELPILOT_SERVING_POD": '{"serviceAccountName": "s3-reader"}'})
            ),
            STORE,
            id="the-service-account-the-platforms-default-names",
        ),
    ],
)
def test_allowed_values_pass(raw: dict, policy: Policy, labels: dict | None) -> None:
    resolved = parse_spec(raw)
    claim = resolved.model_store.pvc.claim_name if resolved.model_store else None
    claim = claim or policy.default_store_claim
    assert refusal(resolved, policy, claim=claim, claim_labels=labels) is None


@pytest.mark.parametrize(
    "uri",
    [
        "/models/../etc/passwd",
        "file:///models/../../etc/shadow",
        "relative/x.csv",
        "file:///etc/passwd",
        "simplecache::s3://b/k.csv",
        "HTTPS://example.com/x.csv",
    ],
)
def test_dataset_uris_that_escape_are_refused(uri: str) -> None:
    assert dataset_refusal(uri, POLICY) is not None


def test_a_missing_or_unlabelled_claim_is_looked_at_again_soon() -> None:
    result = plan(parse_spec(spec()), ModelDeploymentStatus(), world(labels={}), NOW)
    assert result.requeue_after is not None and result.requeue_after <= 10


def test_bad_resource_settings_refuse_to_start() -> None:
    with pytest.raises(SettingsError, match="MODELPILOT_TRAINING_RESOURCES"):
        load_settings({"MODELPILOT_TRAINING_RESOURCES": "{nope"})


def test_every_status_message_is_capped_at_one_kib() -> None:
    huge = "é" * 5000  # two bytes each: the cut must not split a character
    status = ModelDeploymentStatus(message=huge, revision_counter=1)
    written = dump_status(status)
    assert len(written["message"].encode()) <= MESSAGE_LIMIT_BYTES
    assert parse_status(written).message.endswith("…")
