"""Placement and identity of the pods the operator creates: the spec's over the platform's.

A ModelDeployment's `spec.training.pod` / `spec.serving.pod` are merged over the operator's
defaults (settings.training_pod / serving_pod, from the chart's `workloads.*.pod`): a field
the spec sets replaces the default's, except the maps (labels, annotations, nodeSelector),
which merge key by key with the spec winning, so a model can add a label without losing the
models pool's node selector. Then the result is laid onto a pod template that
modelpilot.operator.objects built.

The operator's own labels and annotations are laid last: a Service's selector and the
digest the server checks must never be replaced by a user's value (the CRD refuses such
labels at apply too; this is the second line).

Pure: plain dicts in, plain dicts out.
"""

from __future__ import annotations

import copy
from typing import Any

from modelpilot.api.pod_spec import PodPlacement

_MAPS = ("node_selector", "labels", "annotations")


def merged(default: PodPlacement | None, spec: PodPlacement | None) -> PodPlacement | None:
    """The spec's placement over the platform's default (None when neither says anything)."""
    if default is None or spec is None:
        return spec if default is None else default
    values = default.model_dump(exclude_none=True)
    for key, value in spec.model_dump(exclude_none=True).items():
        if key in _MAPS:
            values[key] = {**values.get(key, {}), **value}
        else:
            values[key] = value
    return PodPlacement.model_validate(values)


def placed(template: dict[str, Any], placement: PodPlacement | None) -> dict[str, Any]:
    """`template` (a pod template: metadata + spec) with `placement` laid onto it."""
    if placement is None:
        return template
    out = copy.deepcopy(template)
    meta = out.setdefault("metadata", {})
    if placement.labels:
        meta["labels"] = {**placement.labels, **meta.get("labels", {})}
    if placement.annotations:
        meta["annotations"] = {**placement.annotations, **meta.get("annotations", {})}
    pod = out["spec"]
    dumped = placement.model_dump(by_alias=True, exclude_none=True)
    for key in (
        "nodeSelector",
        "tolerations",
        "affinity",
        "topologySpreadConstraints",
        "priorityClassName",
        "serviceAccountName",
        "imagePullSecrets",
    ):
        if key in dumped:
            pod[key] = dumped[key]
    return out
