"""A revision keeps its serving image until its next revision (docs/upgrading.md).

Upgrading the operator changes MODELPILOT_SERVING_IMAGE. If every serving Deployment took the
new image as soon as the new operator reconciled it, every model's pods would roll at once.
Instead a Deployment records the default image it was first made with (annotation
modelpilot.dev/serving-image) and keeps it, even when a spec change patches it; only a new
revision gets the operator's current image. spec.serving.image still wins over both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelpilot.api import names
from modelpilot.api.spec import parse_spec
from modelpilot.api.status import ModelDeploymentStatus, StableStatus
from modelpilot.operator import objects
from modelpilot.operator.observe import observe_deployment
from modelpilot.operator.rollout import ObservedDeployment, ObservedService, World, plan
from modelpilot.operator.rollout.actions import EnsureServingDeployment
from modelpilot.operator.settings import load_settings

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OWNER = objects.Owner(name="iris", namespace="ml", uid="u-1")
OLD = "127.0.0.1:5110/modelpilot/serving:0.1.0@sha256:" + "1" * 64
NEW = "127.0.0.1:5110/modelpilot/serving:0.2.0@sha256:" + "2" * 64
UPGRADED = load_settings({"MODELPILOT_SERVING_IMAGE": NEW})
SELECTOR = {names.LABEL_MODEL: "iris", names.LABEL_COMPONENT: "serving", names.LABEL_REVISION: "v1"}
RAW: dict[str, Any] = {
    "training": {"dataset": {"builtin": "iris"}, "estimator": "sklearn.svm.SVC"},
    "evaluation": {"metric": "accuracy", "threshold": 0.5},
    "modelStore": {"pvc": {"claimName": "models"}},
}
STATUS = ModelDeploymentStatus(
    stable=StableStatus(revision="v1", model_sha256="a" * 64, deployment="iris-v1", service="iris"),
    revision_counter=1,
    last_revision_started_at=NOW,
)


def made_by_the_old_operator(**changes: Any) -> ObservedDeployment:
    """iris-v1 as the operator before the upgrade made it for RAW (its intent, its image)."""
    intent = EnsureServingDeployment(
        name="iris-v1",
        model="iris",
        revision="v1",
        model_sha256="a" * 64,
        store_claim="models",
        replicas=1,
    )
    fields: dict[str, Any] = {
        "name": "iris-v1",
        "revision": "v1",
        "replicas": 1,
        "ready_replicas": 1,
        "updated_replicas": 1,
        "intent_hash": intent.intent_hash(),
        "default_image": OLD,
    }
    return ObservedDeployment(**{**fields, **changes})


def world(deployment: ObservedDeployment | None) -> World:
    return World(
        name="iris",
        namespace="ml",
        generation=1,
        store_claim_labels={names.LABEL_MODEL_STORE: "true"},
        deployments={} if deployment is None else {"v1": deployment},
        services={
            "iris": ObservedService("iris", SELECTOR),
            "iris-v1": ObservedService("iris-v1", SELECTOR),
        },
    )


def serving_actions(raw: dict[str, Any], observed: ObservedDeployment | None):
    result = plan(parse_spec(raw), STATUS, world(observed), NOW)
    return [a for a in result.actions if isinstance(a, EnsureServingDeployment)]


def server_image(deployment: dict[str, Any]) -> str:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return str(container["image"])


def test_an_operator_upgrade_alone_patches_no_serving_deployment() -> None:
    # What the upgraded operator plans for an unchanged spec: nothing to ensure, whatever
    # image it is configured with now (the image is not part of the intent hash).
    assert serving_actions(RAW, made_by_the_old_operator()) == []


def test_a_spec_change_keeps_the_revisions_image() -> None:
    raw = {**RAW, "serving": {"resources": {"requests": {"cpu": "200m", "memory": "256Mi"}}}}
    (action,) = serving_actions(raw, made_by_the_old_operator())
    assert action.default_image == OLD
    deployment = objects.serving_deployment(action, OWNER, UPGRADED)
    assert server_image(deployment) == OLD
    assert deployment["metadata"]["annotations"][objects.ANNOTATION_SERVING_IMAGE] == OLD


def test_a_new_revision_gets_the_operators_current_image() -> None:
    (action,) = serving_actions(RAW, None)
    assert action.default_image is None
    deployment = objects.serving_deployment(action, OWNER, UPGRADED)
    assert server_image(deployment) == NEW
    assert deployment["metadata"]["annotations"][objects.ANNOTATION_SERVING_IMAGE] == NEW


def test_a_deployment_an_older_operator_made_takes_the_current_image_when_patched() -> None:
    raw = {**RAW, "serving": {"resources": {"requests": {"cpu": "200m", "memory": "256Mi"}}}}
    (action,) = serving_actions(raw, made_by_the_old_operator(default_image=None))
    assert server_image(objects.serving_deployment(action, OWNER, UPGRADED)) == NEW


@pytest.mark.parametrize("observed", [None, "kept"], ids=["new-revision", "kept-revision"])
def test_spec_serving_image_wins_and_the_default_is_still_recorded(observed) -> None:
    custom = "registry.example/team/serving:patched"
    raw = {**RAW, "serving": {"image": custom}}
    actions = serving_actions(raw, None if observed is None else made_by_the_old_operator())
    (action,) = actions
    deployment = objects.serving_deployment(action, OWNER, UPGRADED)
    assert server_image(deployment) == custom
    default = NEW if observed is None else OLD
    assert deployment["metadata"]["annotations"][objects.ANNOTATION_SERVING_IMAGE] == default


def test_the_default_image_is_no_part_of_the_intent() -> None:
    (action,) = serving_actions(RAW, None)
    kept = EnsureServingDeployment(**{**action.__dict__, "default_image": OLD})
    assert kept.intent_hash() == action.intent_hash()


def test_observe_reads_the_image_the_deployment_was_made_with() -> None:
    (action,) = serving_actions(RAW, None)
    made = objects.serving_deployment(
        action, OWNER, load_settings({"MODELPILOT_SERVING_IMAGE": OLD})
    )
    assert observe_deployment(made, []).default_image == OLD
    del made["metadata"]["annotations"][objects.ANNOTATION_SERVING_IMAGE]
    assert observe_deployment(made, []).default_image is None
