"""The objects a serving revision needs: its Deployment, its Services, the store it mounts.

Ensured on a Draft by plan() for the stable revision and a plain candidate, and by the
canary's steps (modelpilot.operator.rollout.canary_steps) for a canary, so both ask for
exactly the same objects.
"""

from __future__ import annotations

from modelpilot.api.reasons import ConditionReason
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import CandidateState, CandidateStatus, FailureReason
from modelpilot.operator.rollout import conditions as cond
from modelpilot.operator.rollout.actions import (
    EnsureService,
    EnsureServingDeployment,
    ScaleDeployment,
)
from modelpilot.operator.rollout.draft import Draft
from modelpilot.operator.rollout.naming import (
    deployment_name,
    revision_service_name,
    serving_selector,
)
from modelpilot.operator.rollout.world import World


def dataset_claim_name(spec: ModelDeploymentSpec) -> str | None:
    """spec.training.dataset.pvc's claim, mounted read-only into the trainer and the probe."""
    dataset = spec.training.dataset.pvc
    return None if dataset is None else dataset.claim_name


def store_claim(spec: ModelDeploymentSpec, world: World) -> str | None:
    """The PVC the pods mount: the spec's, else the operator's default; None with an S3
    store (spec.modelStore.s3) or when there is neither."""
    if spec.model_store is not None:
        return None if spec.model_store.pvc is None else spec.model_store.pvc.claim_name
    return world.default_store_claim


def has_store(spec: ModelDeploymentSpec, world: World) -> bool:
    """Bundles have somewhere to go: an S3 store or a claim."""
    return spec.store_s3 is not None or store_claim(spec, world) is not None


def ensure_revision_serving(
    draft: Draft, spec: ModelDeploymentSpec, revision: str, sha256: str, replicas: int
) -> None:
    """The revision's Deployment and per-version Service, as the spec wants them now."""
    world = draft.world
    claim = store_claim(spec, world)
    if not has_store(spec, world):  # the store was removed from the spec after training
        draft.problem = draft.problem or cond.Problem(
            ConditionReason.NO_MODEL_STORE,
            "spec.modelStore.pvc.claimName is not set and there is no default",
        )
        return
    resources = spec.serving.resources
    observed = world.deployments.get(revision)
    wanted = EnsureServingDeployment(
        name=deployment_name(world.name, revision),
        model=world.name,
        revision=revision,
        model_sha256=sha256,
        store_claim=claim,
        store_s3=spec.store_s3,
        replicas=replicas,
        image=spec.serving.image,
        default_image=None if observed is None else observed.default_image,
        max_batch_rows=spec.serving.max_batch_rows,
        publish_category_values=spec.monitoring is not None
        and spec.monitoring.publish_category_values,
        resources=None if resources is None else resources.as_pod_resources(),
        pod=spec.serving.pod,
        prediction_log=prediction_log_settings(spec),
    )
    if observed is None or observed.intent_hash != wanted.intent_hash():
        draft.actions.append(wanted)
    elif observed.replicas != replicas:
        draft.actions.append(ScaleDeployment(name=wanted.name, replicas=replicas))
    ensure_service(
        draft,
        EnsureService(
            name=revision_service_name(world.name, revision),
            model=world.name,
            selector=serving_selector(world.name, revision),
            revision=revision,
        ),
    )


def ensure_service(draft: Draft, wanted: EnsureService) -> None:
    observed = draft.world.services.get(wanted.name)
    if observed is None or dict(observed.selector) != dict(wanted.selector):
        draft.actions.append(wanted)


def conclude_if_deployment_failed(draft: Draft, candidate: CandidateStatus) -> str | None:
    """The candidate's Deployment gave up (ProgressDeadlineExceeded): it fails, with an Event.

    Returns the detail (the pods' problem, else the Deployment's) when it failed, else None.
    Shared by a plain rollout and a canary, which adds its own CanaryHealthy verdict.
    """
    deployment = draft.world.deployments.get(candidate.revision)
    if deployment is None or not deployment.progress_failure:
        return None
    detail = deployment.pod_problem or deployment.progress_failure
    reason = FailureReason.DEPLOYMENT_FAILED
    message = f"pods of {deployment.name} did not become Ready: {detail}"
    draft.conclude(CandidateState.FAILED, message, reason=reason)
    draft.event("Warning", reason, f"{candidate.revision}: {cond.failure_message(reason, message)}")
    return detail


def prediction_log_settings(spec: ModelDeploymentSpec) -> tuple[float, int, float] | None:
    """spec.monitoring.logging as the serving pod's flags take it; None when off."""
    logging = None if spec.monitoring is None else spec.monitoring.logging
    if logging is None:
        return None
    return (logging.sample_rate, logging.max_buffered_rows, logging.flush_interval_seconds)
