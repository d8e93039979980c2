"""Where and as whom the operator's pods run: placement, identity and resources.

`spec.training.pod` covers the training Jobs and the data-probe Jobs, `spec.serving.pod` the
serving Deployments (their fetch-bundle init step included). A platform runs models on node
pools with taints, priorities and cloud identities; these fields say so, and the operator
merges them over its own defaults (the chart's `workloads.*.pod`) in
modelpilot.operator.placement.

Kept apart from modelpilot.api.spec (one concept: the pod, not the model). Resources are
Kubernetes quantities, integer or string, checked with the apiserver's own pattern so that
`kubectl apply` accepts `cpu: 1` and refuses `cpu: lots`, as a Pod would.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator

from modelpilot.api import names
from modelpilot.api.spec_model import SpecModel, cel, rule

# resource.Quantity's serialization format (k8s.io/apimachinery), as controller-gen emits it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

# Label keys the operator's selectors and its own bookkeeping rely on: a user's pod labels
# must not replace them, or a Service would stop selecting its pods.
RESERVED_LABEL_PREFIXES = (f"{names.GROUP}/", "app.kubernetes.io/")


def _not_a_bool(value: object) -> object:
    if isinstance(value, bool):  # YAML `true` would pass as the integer 1; it is no quantity
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    return value


def _quantity(value: int | str) -> int | str:
    if isinstance(value, str) and re.fullmatch(QUANTITY_PATTERN, value) is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 1, 500m, 2Gi)")
    return value


Quantity = Annotated[
    int | str,
    BeforeValidator(_not_a_bool),
    AfterValidator(_quantity),
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY_PATTERN,
            "description": "A Kubernetes quantity: an integer or a string such as 500m, 2Gi.",
        }
    ),
]


def quantities_as_text(values: dict[str, int | str] | None) -> dict[str, str] | None:
    """Quantities as the strings a Pod spec carries (`1` -> "1"), so that an integer and
    the same number as a string give the same pod template and the same intent hash."""
    return None if values is None else {k: str(v) for k, v in values.items()}


class Resources(SpecModel):
    """Container resources, as in a Pod spec."""

    requests: dict[str, Quantity] | None = Field(
        None, description="e.g. {cpu: 500m, memory: 1Gi}; integers (cpu: 1) are quantities too."
    )
    limits: dict[str, Quantity] | None = Field(None, description="e.g. {memory: 2Gi}")

    def as_pod_resources(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for key, values in (("requests", self.requests), ("limits", self.limits)):
            text = quantities_as_text(values)
            if text is not None:
                out[key] = text
        return out


class Toleration(SpecModel):
    """A Pod toleration (core/v1 Toleration)."""

    key: str | None = Field(None, description="The taint key; empty with Exists matches all.")
    operator: Literal["Exists", "Equal"] | None = Field(
        None, description="Exists or Equal (the default)."
    )
    value: str | None = Field(None, description="The taint value (with Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="The taint effect to match; all effects when empty."
    )
    toleration_seconds: int | None = Field(
        None, description="With NoExecute: how long the pod stays bound after the taint."
    )


class LocalObjectReference(SpecModel):
    name: str = Field(
        max_length=253, pattern=NAME_PATTERN, description="A Secret in the same namespace."
    )


def _reserved(keys: dict[str, str] | None) -> list[str]:
    return sorted(k for k in keys or {} if k.startswith(RESERVED_LABEL_PREFIXES))


_RESERVED_CEL = " || ".join(f"k.startsWith('{p}')" for p in RESERVED_LABEL_PREFIXES)


class PodPlacement(SpecModel):
    """Placement and identity of the pods the operator creates for one side (training or
    serving). Each field set here replaces the operator's default for it (the chart's
    workloads.*.pod); labels, annotations and nodeSelector are merged key by key, the
    ModelDeployment's keys winning."""

    model_config = cel(
        rule(
            f"!has(self.labels) || !self.labels.exists(k, {_RESERVED_CEL})",
            "pod.labels may not set modelpilot.dev/* or app.kubernetes.io/* keys: the "
            "operator's selectors rely on them",
            ".labels",
        ),
    )

    node_selector: dict[str, str] | None = Field(
        None, description="Node labels the pods must run on, e.g. {pool: models}."
    )
    tolerations: list[Toleration] | None = Field(
        None, description="Taints the pods tolerate, e.g. a dedicated models node pool's."
    )
    affinity: dict[str, Any] | None = Field(
        None,
        description="A core/v1 Affinity (nodeAffinity, podAffinity, podAntiAffinity), "
        "passed to the pods as written.",
    )
    topology_spread_constraints: list[dict[str, Any]] | None = Field(
        None,
        description="core/v1 TopologySpreadConstraints, passed to the pods as written (their "
        "labelSelector may use modelpilot.dev/model and modelpilot.dev/revision).",
    )
    priority_class_name: str | None = Field(
        None,
        max_length=253,
        pattern=NAME_PATTERN,
        description="The pods' PriorityClass; the platform's policy lists the allowed ones.",
    )
    service_account_name: str | None = Field(
        None,
        max_length=253,
        pattern=NAME_PATTERN,
        description="The pods' ServiceAccount (e.g. one bound to a cloud identity, so S3 "
        "needs no credentialsSecret); the platform's policy lists the allowed ones. Its API "
        "token is still not mounted: the pods never call the Kubernetes API.",
    )
    image_pull_secrets: list[LocalObjectReference] | None = Field(
        None, description="Secrets for pulling the pods' images from a private registry."
    )
    labels: dict[str, str] | None = Field(
        None,
        max_length=64,  # bounds the CEL rule's cost, which the apiserver estimates at apply
        description="Extra pod labels (not modelpilot.dev/* or app.kubernetes.io/*).",
    )
    annotations: dict[str, str] | None = Field(
        None, max_length=64, description="Extra pod annotations."
    )

    @model_validator(mode="after")
    def _no_reserved_labels(self) -> PodPlacement:
        reserved = _reserved(self.labels)
        if reserved:
            raise ValueError(
                f"pod.labels may not set {', '.join(reserved)}: the operator's selectors "
                "rely on modelpilot.dev/* and app.kubernetes.io/* labels"
            )
        return self


__all__ = [
    "QUANTITY_PATTERN",
    "RESERVED_LABEL_PREFIXES",
    "LocalObjectReference",
    "PodPlacement",
    "Quantity",
    "Resources",
    "Toleration",
    "quantities_as_text",
]
