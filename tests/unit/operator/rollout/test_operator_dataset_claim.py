"""spec.training.dataset.pvc: a claim of its own, checked like the store (a label or the
allowlist), never a model store; mounted read-only into the trainer and the data probe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from modelpilot.api import names
from modelpilot.api.spec import parse_spec
from modelpilot.api.status import ModelDeploymentStatus
from modelpilot.operator.objects import Owner, training_job
from modelpilot.operator.observe import dataset_claim_to_read
from modelpilot.operator.rollout import World, plan
from modelpilot.operator.rollout.actions import CreateTrainingJob
from modelpilot.operator.rollout.policy import (
    Policy,
    dataset_claim_refusal,
    dataset_refusal,
    policy_of,
)
from modelpilot.operator.settings import (
    DEFAULT_DATASET_SCHEMES,
    Settings,
    SettingsError,
    load_settings,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STORE = {names.LABEL_MODEL_STORE: "true"}
DATA = {names.LABEL_DATASET: "true"}
POLICY = policy_of(load_settings({}))
SALES = {"claimName": "sales-data", "path": "exports/sales.csv"}


def raw_spec(dataset: dict | None = None, store: str = "models") -> dict:
    return {
        "training": {
            "dataset": dataset or {"pvc": SALES, "target": "churned"},
            "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
        },
        "evaluation": {"metric": "accuracy", "threshold": 0.5},
        "modelStore": {"pvc": {"claimName": store}},
    }


def world(*, data_labels: dict | None, policy: Policy = POLICY, **kw: object) -> World:
    return World(
        name="churn",
        namespace="ml",
        generation=1,
        policy=policy,
        store_claim_labels=STORE,
        dataset_claim_labels=data_labels,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("claim", "labels", "policy", "store", "reason", "says"),
    [
        pytest.param(
            "sales-data", None, POLICY, "models", "DatasetClaimNotFound",
            "spec.training.dataset.pvc.claimName 'sales-data': no such PersistentVolumeClaim",
            id="claim-that-does-not-exist",
        ),
        pytest.param(
            "sales-data", {}, POLICY, "models", "DatasetClaimNotAllowed",
            "kubectl label pvc sales-data modelpilot.dev/dataset=true",
            id="claim-without-the-dataset-label",
        ),
        pytest.param(
            "models", DATA, POLICY, "models", "DatasetNotAllowed",
            "'models' is a model store",
            id="the-store-claim-itself-even-labelled",
        ),
        pytest.param(
            "shared", DATA, policy_of(load_settings({"MODELPILOT_DEFAULT_STORE_PVC": "shared"})),
            "models", "DatasetNotAllowed", "is a model store",
            id="the-operators-default-store",
        ),
        pytest.param(
            "team-store", {**DATA, **STORE}, POLICY, "models", "DatasetNotAllowed",
            "is a model store",
            id="another-claim-labelled-as-a-store",
        ),
        pytest.param(
            "models-b", DATA,
            policy_of(load_settings({
                "MODELPILOT_STORE_CLAIM_ALLOWLIST": "models-*",
                "MODELPILOT_DATASET_CLAIM_ALLOWLIST": "*",
            })),
            "models", "DatasetNotAllowed", "is a model store",
            id="an-allowlisted-store-even-when-the-dataset-allowlist-says-yes",
        ),
    ],
)  # fmt: skip
def test_refused_dataset_claims_name_the_claim_and_the_fix(
    claim, labels, policy, store, reason, says
) -> None:
    refused = dataset_claim_refusal(policy, claim=claim, labels=labels, store_claim=store)
    assert refused is not None
    assert refused.reason == reason
    assert says in refused.message


@pytest.mark.parametrize(
    ("labels", "policy"),
    [
        pytest.param(DATA, POLICY, id="labelled"),
        pytest.param(
            None,
            policy_of(load_settings({"MODELPILOT_DATASET_CLAIM_ALLOWLIST": "sales-*"})),
            id="allowlisted-and-not-read",
        ),
    ],
)
def test_labelled_or_allowlisted_dataset_claims_pass(labels, policy) -> None:
    assert (
        dataset_claim_refusal(policy, claim="sales-data", labels=labels, store_claim="models")
        is None
    )


def test_an_unlabelled_dataset_claim_stalls_starts_nothing_and_is_looked_at_again_soon() -> None:
    result = plan(parse_spec(raw_spec()), ModelDeploymentStatus(), world(data_labels={}), NOW)
    stalled = result.status.condition("Stalled")
    assert stalled is not None and stalled.status == "True"
    assert stalled.reason == "DatasetClaimNotAllowed"
    assert "MODELPILOT_DATASET_CLAIM_ALLOWLIST (Helm value policy.datasetClaimAllowlist)" in (
        stalled.message
    )
    assert not any(isinstance(a, CreateTrainingJob) for a in result.actions)
    assert result.requeue_after is not None and result.requeue_after <= 10


def test_a_labelled_claim_trains_with_it_and_is_remembered_so_it_is_not_read_again() -> None:
    result = plan(parse_spec(raw_spec()), ModelDeploymentStatus(), world(data_labels=DATA), NOW)
    assert result.status.verified_dataset_claim == "sales-data"
    again = plan(
        parse_spec(raw_spec()),
        result.status,
        world(data_labels=None, verified_dataset_claim="sales-data"),
        NOW,
    )
    [job] = [a for a in again.actions if isinstance(a, CreateTrainingJob)]
    assert job.dataset_claim == "sales-data" and job.store_claim == "models"
    assert again.status.condition("Stalled") is None or (
        again.status.condition("Stalled").status == "False"
    )


def test_the_tick_reads_the_dataset_claim_only_when_the_policy_needs_its_labels() -> None:
    spec = raw_spec()
    assert dataset_claim_to_read(spec, Settings()) == "sales-data"
    allowlisted = load_settings({"MODELPILOT_DATASET_CLAIM_ALLOWLIST": "sales-data"})
    assert dataset_claim_to_read(spec, allowlisted) is None
    builtin = raw_spec({"builtin": "iris"})
    assert dataset_claim_to_read(builtin, Settings()) is None


def _job(*, probe: bool) -> dict:
    action = CreateTrainingJob(
        name="churn-data-1" if probe else "churn-train-v1",
        model="churn",
        revision="probe" if probe else "v1",
        spec_json="{}",
        store_claim="models",
        active_deadline_seconds=60,
        backoff_limit=0,
        fingerprint_only=probe,
        dataset_claim="sales-data",
    )
    return training_job(action, Owner("churn", "ml", "uid-1"), Settings())


@pytest.mark.parametrize("probe", [False, True], ids=["trainer", "data-probe"])
def test_the_dataset_claim_is_mounted_whole_and_read_only(probe: bool) -> None:
    pod = _job(probe=probe)["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "dataset"]
    assert volume["persistentVolumeClaim"] == {"claimName": "sales-data", "readOnly": True}
    [container] = pod["containers"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "dataset"]
    assert mount == {"name": "dataset", "mountPath": names.DATASET_MOUNT_PATH, "readOnly": True}
    env = {e["name"]: e for e in container["env"]}
    assert env[names.ENV_DATASET_DIR]["value"] == names.DATASET_MOUNT_PATH
    memory = env[names.ENV_MEMORY_LIMIT]["valueFrom"]["resourceFieldRef"]
    assert memory == {"containerName": "trainer", "resource": "limits.memory"}


@pytest.mark.parametrize(
    ("path", "problem"),
    [("/etc/passwd", "is absolute"), ("../other/x.csv", "'..'"), ("a/../../b.csv", "'..'")],
    ids=["absolute", "climbs-out", "climbs-out-inside"],
)
def test_dataset_paths_that_leave_the_claim_are_refused_by_the_spec(path, problem) -> None:
    with pytest.raises(ValidationError, match=problem):
        parse_spec(raw_spec({"pvc": {"claimName": "sales-data", "path": path}, "target": "y"}))


@pytest.mark.parametrize(
    "dataset",
    [
        {"pvc": SALES},
        {"pvc": SALES, "uri": "s3://b/k.csv", "target": "y"},
        {"pvc": {"claimName": "Not_A_Claim", "path": "x.csv"}, "target": "y"},
    ],
    ids=["no-target", "two-sources", "bad-claim-name"],
)
def test_bad_dataset_claims_are_refused_by_the_spec(dataset) -> None:
    with pytest.raises(ValidationError):
        parse_spec(raw_spec(dataset))


def test_the_default_schemes_are_what_the_trainer_image_reads() -> None:
    assert DEFAULT_DATASET_SCHEMES == ("s3",)
    for uri in ("gs://b/x.csv", "abfs://c/x.csv", "az://c/x.csv"):
        assert "not allowed" in (dataset_refusal(uri, POLICY) or "")
    allowed = policy_of(load_settings({"MODELPILOT_DATASET_SCHEMES": "s3,gs"}))
    assert dataset_refusal("gs://b/x.csv", allowed) is None
    assert dataset_refusal("s3://b/sales/2026-*/part-*.parquet", POLICY) is None


@pytest.mark.parametrize("mount", ["/data", "/data/models", "/"])
def test_a_store_mount_path_over_the_dataset_mount_refuses_to_start(mount: str) -> None:
    with pytest.raises(SettingsError, match="overlaps /data"):
        load_settings({"MODELPILOT_STORE_MOUNT_PATH": mount})
    assert load_settings({"MODELPILOT_STORE_MOUNT_PATH": "/database"}).store_mount_path == (
        "/database"
    )
