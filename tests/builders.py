"""Builders of ModelDeployment specs, statuses and objects that tests in several folders share
(tests/ is on pytest's pythonpath, pyproject.toml).

Every builder starts from one small valid iris ModelDeployment and takes what a test changes
as keyword arguments, so a test names only what it is about:

    spec_dict(serving={"replicas": 2})              the spec as a person writes it
    spec(rollout={"steps": [{"setWeight": 20}]})    the same, parsed
    candidate("v2", "Canary", model_sha256="b"*64)  status.candidate
    status("Training", candidate=candidate())       the status
    world(jobs={...})                               what the cluster holds for plan()
    serving_intent("v2")                            the serving Deployment plan() asks for
    ready_deployment("v2", replicas=2)              that Deployment, observed Ready
    training_summary("v2", 0.95, stable=0.9)        what a training Job reports
    model_deployment(spec_dict(), status={...})     the object as the apiserver returns it
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from modelpilot.api import names
from modelpilot.api.spec import ModelDeploymentSpec, parse_spec
from modelpilot.api.status import CandidateStatus, ModelDeploymentStatus
from modelpilot.api.summary import TrainingSummary
from modelpilot.operator.rollout import ObservedDeployment, World
from modelpilot.operator.rollout.actions import EnsureServingDeployment
from modelpilot.operator.rollout.triggers import spec_hash

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NAME, NAMESPACE = "iris", "ml"
TREE = "sklearn.tree.DecisionTreeClassifier"
FOREST = "sklearn.ensemble.RandomForestClassifier"
SVC = "sklearn.svm.SVC"
LINEAR = "sklearn.linear_model.LinearRegression"
# The model digest of each revision.
DIGEST = {"v1": "a" * 64, "v2": "b" * 64, "v3": "c" * 64}


def spec_dict(
    estimator: str = TREE,
    *,
    threshold: float = 0.8,
    params: dict[str, Any] | None = None,
    store: bool = True,
    **sections: Any,
) -> dict[str, Any]:
    """An iris ModelDeployment spec: `estimator` on builtin iris, gated on accuracy >=
    `threshold`, models on the PVC "models" (none when not `store`); each keyword section
    (serving, rollout, monitoring, evaluation, ...) replaces that section whole."""
    training: dict[str, Any] = {"dataset": {"builtin": "iris"}, "estimator": estimator}
    if params is not None:
        training["params"] = params
    raw: dict[str, Any] = {
        "training": training,
        "evaluation": {"metric": "accuracy", "threshold": threshold},
    }
    if store:
        raw["modelStore"] = {"pvc": {"claimName": "models"}}
    raw.update(copy.deepcopy(sections))
    return raw


def spec(estimator: str = TREE, **changes: Any) -> ModelDeploymentSpec:
    """spec_dict(...), parsed as the operator parses it."""
    parsed = parse_spec(spec_dict(estimator, **changes))
    assert isinstance(parsed, ModelDeploymentSpec), parsed
    return parsed


# What spec() hashes to: the candidate and the status below were made from it.
SPEC_HASH = spec_hash(spec())
# The labels that let the operator use a PVC as a model store.
STORE_LABELS = {names.LABEL_MODEL_STORE: "true"}


def candidate(rev: str = "v1", state: str = "Training", **fields: Any) -> CandidateStatus:
    """status.candidate: revision `rev` of spec(), started NOW by creation."""
    base: dict[str, Any] = {
        "trigger": "Created",
        "spec_hash": SPEC_HASH,
        "job": f"{NAME}-train-{rev}",
        "started_at": NOW,
        "metric": "accuracy",
    }
    return CandidateStatus(revision=rev, state=state, **{**base, **fields})


def status(phase: str, **fields: Any) -> ModelDeploymentStatus:
    """A status in `phase` after one revision of spec() started at NOW."""
    base: dict[str, Any] = {
        "revision_counter": 1,
        "last_spec_hash": SPEC_HASH,
        "last_revision_started_at": NOW,
    }
    return ModelDeploymentStatus(phase=phase, **{**base, **fields})


def world(**fields: Any) -> World:
    """What plan() sees of iris in namespace ml at generation 1, its store claim labelled as
    one; fields add observations."""
    base: dict[str, Any] = {
        "name": NAME,
        "namespace": NAMESPACE,
        "generation": 1,
        "store_claim_labels": STORE_LABELS,
    }
    return World(**{**base, **fields})


def model_deployment(
    spec: dict[str, Any] | None = None,
    *,
    name: str = NAME,
    namespace: str = NAMESPACE,
    generation: int = 1,
    status: dict[str, Any] | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    """The ModelDeployment object as the apiserver returns it (spec_dict() unless given)."""
    body: dict[str, Any] = {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": generation,
            "uid": f"uid-{name}",
            **metadata,
        },
        "spec": spec_dict() if spec is None else spec,
    }
    if status is not None:
        body["status"] = status
    return body


def serving_intent(rev: str = "v1", *, replicas: int = 1, **fields: Any) -> EnsureServingDeployment:
    """The serving Deployment plan() asks for revision `rev` of iris (its DIGEST, the PVC
    "models")."""
    base: dict[str, Any] = {
        "name": f"{NAME}-{rev}",
        "model": NAME,
        "revision": rev,
        "model_sha256": DIGEST[rev],
        "store_claim": "models",
        "replicas": replicas,
    }
    return EnsureServingDeployment(**{**base, **fields})


def ready_deployment(
    rev: str = "v1",
    *,
    replicas: int = 1,
    intent: EnsureServingDeployment | None = None,
    **fields: Any,
) -> ObservedDeployment:
    """Revision `rev`'s Deployment as plan() would create it (serving_intent() unless given),
    all `replicas` Ready and updated; fields change what was observed (ready_replicas, ...)."""
    intent = intent or serving_intent(rev, replicas=replicas)
    base: dict[str, Any] = {
        "name": intent.name,
        "revision": rev,
        "replicas": replicas,
        "ready_replicas": replicas,
        "updated_replicas": replicas,
        "intent_hash": intent.intent_hash(),
    }
    return ObservedDeployment(**{**base, **fields})


def training_summary(
    revision: str,
    score: float,
    stable: float | None = None,
    sha: str = "a",
    holdout: str | None = "h" * 64,
) -> TrainingSummary:
    """A successful training Job's summary: accuracy `score` (and the stable's on the same
    `holdout`), the model digest `sha` * 64."""
    return TrainingSummary(
        ok=True,
        revision=revision,
        model_sha256=sha * 64,
        metric="accuracy",
        candidate_score=score,
        stable_score=stable,
        holdout_sha256=holdout,
    )
