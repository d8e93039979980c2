"""A model's Open Inference Protocol metadata: its inputs with each feature's datatype.

Clients (and people) read this to build requests. A model whose features are all numbers
lists the one [rows, n] FP64 tensor `input-0` that carries them all (per-feature tensors are
accepted too). A model with string (categorical) features lists one tensor per feature,
named as the feature and typed as it was trained: that is the form which carries each
column's own type (FP64, INT64, BOOL, BYTES); one [rows, n] BYTES tensor of text is accepted
too. On every model `parameters.features` and `parameters.feature_datatypes` give each
feature's name and datatype in the model's order.
"""

from __future__ import annotations

from typing import Any

from .features import FeatureLayout
from .v2 import OUTPUT_PREDICT, OUTPUT_PROBA, PLATFORM

_DATATYPE_OF_KIND = {"f": "FP64", "i": "INT64", "u": "INT64", "b": "BOOL"}


def feature_datatypes(layout: FeatureLayout) -> list[str]:
    return [_DATATYPE_OF_KIND.get(kind, "BYTES") for kind in layout.kinds]


def model_metadata(
    *,
    name: str,
    version: str,
    layout: FeatureLayout,
    classes: list[Any] | None,
    prediction_datatype: str,
    has_proba: bool,
    task: str,
    sha256: str,
) -> dict[str, Any]:
    outputs = [{"name": OUTPUT_PREDICT, "datatype": prediction_datatype, "shape": [-1]}]
    if has_proba:
        n_classes = len(classes) if classes is not None else -1
        outputs.append({"name": OUTPUT_PROBA, "datatype": "FP64", "shape": [-1, n_classes]})
    datatypes = feature_datatypes(layout)
    parameters: dict[str, Any] = {
        "task": task,
        "features": list(layout.names),
        "feature_datatypes": datatypes,
        "sha256": sha256,
    }
    if classes is not None:
        parameters["classes"] = classes
    if layout.numeric:
        inputs = [{"name": "input-0", "datatype": "FP64", "shape": [-1, layout.count]}]
    else:
        inputs = [
            {"name": feature, "datatype": datatype, "shape": [-1]}
            for feature, datatype in zip(layout.names, datatypes, strict=True)
        ]
    return {
        "name": name,
        "versions": [version],
        "platform": PLATFORM,
        "inputs": inputs,
        "outputs": outputs,
        "parameters": parameters,
    }
