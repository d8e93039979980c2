"""spec.serving.autoscaling: an autoscaling/v2 HPA owns the stable Deployment's replicas.

Two decisions keep the operator from fighting the HPA:

- `spec_with_running_replicas()` replaces `spec.serving.replicas` for this tick with the
  replicas the stable Deployment runs now (clamped into [minReplicas, maxReplicas]). Everything the
  rollout plans from that number — the stable Deployment's replicas, a plain replacement's
  size, the replicas router's canary share, readiness before promotion — then follows what
  the HPA chose, so the operator never writes a replica count the HPA did not set. (This is
  what Argo Rollouts gets by letting the HPA scale the Rollout itself.)
- `plan_autoscaler()` keeps one HPA `NAME` pointed at the current stable Deployment (moved
  at promotion), as the spec says, and deletes it when the field goes.

Pure, like the rollout: objects in, actions out; `apply` interprets the actions. Without
the field nothing here changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modelpilot.api import names
from modelpilot.api.spec import REQUESTS_PER_SECOND_METRIC, Autoscaling, ModelDeploymentSpec
from modelpilot.api.status import ModelDeploymentStatus
from modelpilot.operator.rollout.world import World

API_VERSION = "autoscaling/v2"
KIND = "HorizontalPodAutoscaler"


@dataclass(frozen=True)
class EnsureAutoscaler:
    """HPA `name` scales Deployment `deployment` as `spec` (its spec dict) says."""

    name: str
    model: str
    spec: Mapping[str, Any]


@dataclass(frozen=True)
class DeleteAutoscaler:
    name: str


AutoscalerAction = EnsureAutoscaler | DeleteAutoscaler


def spec_with_running_replicas(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus, world: World
) -> ModelDeploymentSpec:
    """`spec` with serving.replicas = what the HPA runs now (unchanged without autoscaling)."""
    scaling = spec.serving.autoscaling
    if scaling is None:
        return spec
    current = None
    stable = world.deployments.get(status.stable.revision) if status.stable else None
    if stable is not None and stable.replicas > 0:
        current = stable.replicas
    elif status.candidate is not None:
        # Promotion scaled the old stable to 0 (replicas router) or there is no stable yet:
        # the candidate's current size is what serves next.
        candidate = world.deployments.get(status.candidate.revision)
        if candidate is not None and candidate.replicas > 0:
            current = candidate.replicas
    replicas = scaling.min_replicas if current is None else current
    replicas = max(scaling.min_replicas, min(scaling.max_replicas, replicas))
    if replicas == spec.serving.replicas:
        return spec
    serving = spec.serving.model_copy(update={"replicas": replicas})
    return spec.model_copy(update={"serving": serving})


def hpa_spec(scaling: Autoscaling, deployment: str) -> dict[str, Any]:
    if scaling.target_cpu_utilization_percentage is not None:
        metric: dict[str, Any] = {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {
                    "type": "Utilization",
                    "averageUtilization": scaling.target_cpu_utilization_percentage,
                },
            },
        }
    else:
        rps = scaling.target_requests_per_second
        assert rps is not None  # the spec's validator: exactly one target
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": REQUESTS_PER_SECOND_METRIC},
                "target": {"type": "AverageValue", "averageValue": quantity(rps)},
            },
        }
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "metrics": [metric],
    }


def quantity(value: float) -> str:
    """A Kubernetes quantity in the apiserver's canonical form (2.5 -> "2500m", 5 -> "5"),
    so the HPA read back compares equal and is not patched on every tick."""
    millis = round(value * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def plan_autoscaler(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    *,
    model: str,
    owner_uid: str,
    observed: Iterable[Mapping[str, Any]],
) -> list[AutoscalerAction]:
    """The actions that make HPA `model` match the spec (observed: HPAs with our labels)."""
    mine = [
        hpa
        for hpa in observed
        if any(
            ref.get("uid") == owner_uid and ref.get("controller")
            for ref in hpa.get("metadata", {}).get("ownerReferences") or []
        )
    ]
    scaling = spec.serving.autoscaling
    if scaling is None or status.stable is None:
        # Without a stable Deployment there is nothing to scale yet.
        return [DeleteAutoscaler(hpa["metadata"]["name"]) for hpa in mine]
    wanted = hpa_spec(scaling, status.stable.deployment)
    actions: list[AutoscalerAction] = [
        DeleteAutoscaler(hpa["metadata"]["name"])
        for hpa in mine
        if hpa["metadata"]["name"] != model
    ]
    current = next((hpa for hpa in mine if hpa["metadata"]["name"] == model), None)
    if current is None or not _same(current.get("spec") or {}, wanted):
        actions.append(EnsureAutoscaler(name=model, model=model, spec=wanted))
    return actions


def _same(observed: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    # The apiserver may add defaults (e.g. a behavior block); compare only what we set.
    return all(observed.get(key) == value for key, value in wanted.items())


def autoscaler_object(
    action: EnsureAutoscaler, *, namespace: str, owner_reference: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": action.name,
            "namespace": namespace,
            "labels": {
                names.LABEL_MODEL: action.model,
                names.LABEL_COMPONENT: "serving",
                names.LABEL_MANAGED_BY: names.MANAGED_BY,
                "app.kubernetes.io/name": action.model,
            },
            "ownerReferences": [dict(owner_reference)],
        },
        "spec": dict(action.spec),
    }
