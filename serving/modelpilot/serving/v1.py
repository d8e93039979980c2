"""KServe V1 ("TensorFlow Serving style") wire format: `{"instances": [...]}` in,
`{"predictions": [...]}` out.

Rows are lists in feature order or objects keyed by feature name. As an extension,
`"parameters": {"predict_proba": true}` adds `"probabilities"` (columns in `classes` order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .codec import decode_object, encode, jsonable_array
from .errors import InvalidInput, MalformedRequest
from .features import FeatureLayout, rows_to_matrix

PROTOCOL = "v1"

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["instances"],
    "properties": {
        "instances": {
            "type": "array",
            "description": "rows: arrays of feature values in feature order, or objects "
            "keyed by feature name",
            "items": {"oneOf": [{"type": "array", "items": {}}, {"type": "object"}]},
        },
        "parameters": {
            "type": "object",
            "properties": {"predict_proba": {"type": "boolean"}},
        },
    },
}


@dataclass(frozen=True, slots=True)
class PredictRequest:
    features: np.ndarray
    proba: bool


def parse_predict(body: bytes, layout: FeatureLayout, *, has_proba: bool) -> PredictRequest:
    request = decode_object(body)
    if "instances" not in request:
        hint = " (that is the V2 format: POST /v2/models/NAME/infer)" if "inputs" in request else ""
        raise MalformedRequest(f'a V1 request needs "instances": a list of rows{hint}')
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise MalformedRequest('"parameters" must be an object')
    proba = parameters.get("predict_proba", False)
    if not isinstance(proba, bool):
        raise MalformedRequest('"parameters.predict_proba" must be true or false')
    if proba and not has_proba:
        raise InvalidInput("this model has no predict_proba (it is not a probabilistic classifier)")
    features = rows_to_matrix(request["instances"], layout, where="instances")
    return PredictRequest(features=features, proba=proba)


def render_predict(predictions: np.ndarray, probabilities: np.ndarray | None) -> bytes:
    body: dict[str, Any] = {"predictions": jsonable_array(predictions)}
    if probabilities is not None:
        body["probabilities"] = jsonable_array(probabilities)
    return encode(body)


def model_status(name: str, *, ready: bool) -> bytes:
    return encode({"name": name, "ready": ready})
