"""Open Inference Protocol (KServe V2) wire format: typed tensors in and out.

Inputs, either of:
  * one tensor of shape [rows, n_features] (FP16/FP32/FP64/INT*/UINT*/BOOL), or
  * one tensor per feature, named as in the bundle's schema, each of shape [rows] or
    [rows, 1] (the only way to send BYTES for string features).
`data` may be flat (row-major) or nested, or absent when the tensor's bytes follow the JSON
header (the binary tensor data extension, binary.py). Outputs: `predict` by default;
`predict_proba` when the request lists it in `outputs` and the model has it; each as JSON
`data` or, when asked for, binary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from . import binary, declared
from .codec import decode_object, encode, jsonable_array
from .errors import InvalidInput, MalformedRequest
from .features import FeatureLayout, check_matrix, check_row_count

PROTOCOL = "v2"
OUTPUT_PREDICT = "predict"
OUTPUT_PROBA = "predict_proba"
PLATFORM = "sklearn"

_INTS = frozenset({int})
_NUMBERS = frozenset({int, float})
# datatype -> (numpy dtype, JSON element types accepted)
DATATYPES: dict[str, tuple[Any, frozenset[type]]] = {
    "BOOL": (np.bool_, frozenset({bool})),
    "UINT8": (np.uint8, _INTS),
    "UINT16": (np.uint16, _INTS),
    "UINT32": (np.uint32, _INTS),
    "UINT64": (np.uint64, _INTS),
    "INT8": (np.int8, _INTS),
    "INT16": (np.int16, _INTS),
    "INT32": (np.int32, _INTS),
    "INT64": (np.int64, _INTS),
    "FP16": (np.float16, _NUMBERS),
    "FP32": (np.float32, _NUMBERS),
    "FP64": (np.float64, _NUMBERS),
    "BYTES": (object, frozenset({str})),
}

_TENSOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "enum": list(DATATYPES)},
        "parameters": {"type": "object"},
        "data": {"type": "array", "items": {}},
    },
}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "inputs": {"type": "array", "items": _TENSOR_SCHEMA},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "enum": [OUTPUT_PREDICT, OUTPUT_PROBA]},
                    "parameters": {"type": "object"},
                },
            },
        },
    },
}


@dataclass(frozen=True, slots=True)
class InferRequest:
    features: np.ndarray
    outputs: tuple[str, ...]
    id: str | None
    # Outputs to send as binary data after the JSON header (binary.py).
    binary_outputs: frozenset[str] = frozenset()

    @property
    def proba(self) -> bool:
        return OUTPUT_PROBA in self.outputs


def parse_infer(
    body: bytes, layout: FeatureLayout, *, has_proba: bool, header_length: int | None = None
) -> InferRequest:
    """A JSON request, or with `header_length` (Inference-Header-Content-Length) a JSON
    header followed by binary tensor data."""
    payload = b""
    if header_length is not None:
        body, payload = binary.split(body, header_length)
    request = decode_object(body)
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise MalformedRequest('"id" must be a string')
    outputs = _requested_outputs(request.get("outputs"), has_proba=has_proba)
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        hint = (
            " (that is the V1 format: POST /v1/models/NAME:predict)"
            if "instances" in request
            else ""
        )
        raise MalformedRequest(f'a V2 request needs "inputs": a non-empty list of tensors{hint}')
    chunks = binary.input_chunks(inputs, payload)
    tensors = [_parse_tensor(i, tensor, layout, raw=chunks[i]) for i, tensor in enumerate(inputs)]
    return InferRequest(
        features=tensors_to_features(tensors, layout),
        outputs=outputs,
        id=request_id,
        binary_outputs=binary.requested_binary(request, outputs),
    )


def tensors_to_features(tensors: list[Tensor], layout: FeatureLayout) -> np.ndarray:
    """The validated feature matrix from parsed input tensors (JSON, binary or gRPC)."""
    if len(tensors) == 1 and len(tensors[0].shape) == 2:
        tensor = tensors[0]
        if layout.numeric and tensor.datatype == "BYTES":
            raise InvalidInput(
                f"input {tensor.name!r} is BYTES but the model's features are numeric; "
                "send FP32/FP64/INT32/INT64"
            )
        if tensor.shape[1] != layout.count:
            check_row_count(tensor.shape[0], layout)
            raise InvalidInput(
                f"input {tensor.name!r} has shape {tensor.shape}: {tensor.shape[1]} features per "
                f"row, the model expects {layout.count} ({', '.join(layout.names)})"
            )
        check_row_count(tensor.shape[0], layout)
        # null becomes NaN here; check_matrix refuses it, naming the column, where the
        # model's pipeline cannot take a missing value.
        array = tensor.to_array(columns=layout.count, missing=True)
        return check_matrix(array, layout, source=f"input {tensor.name!r}")
    return _columns_to_matrix(tensors, layout)


def render_infer(
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: tuple[str, ...],
    predictions: np.ndarray,
    probabilities: np.ndarray | None,
    binary_outputs: frozenset[str] = frozenset(),
) -> tuple[bytes, int | None]:
    """(body, JSON header length when some output is binary, else None)."""
    tensors = []
    for name in outputs:
        array = predictions if name == OUTPUT_PREDICT else probabilities
        assert array is not None
        tensor: dict[str, Any] = {
            "name": name,
            "shape": list(array.shape),
            "datatype": datatype_of(array),
        }
        as_binary = name in binary_outputs
        if not as_binary:
            tensor["data"] = jsonable_array(array.reshape(-1))
        tensors.append((tensor, array, as_binary))
    body: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        body["id"] = request_id
    return binary.render(body, tensors, encode)


def requested_outputs(outputs: Any, *, has_proba: bool) -> tuple[str, ...]:
    """The output names asked for (`[{"name": ...}]`, or None: predict), checked."""
    return _requested_outputs(outputs, has_proba=has_proba)


def datatype_of(array: np.ndarray) -> str:
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "f":
        return {2: "FP16", 4: "FP32"}.get(size, "FP64")
    if kind == "i":
        return f"INT{size * 8}"
    if kind == "u":
        return f"UINT{size * 8}"
    if kind == "b":
        return "BOOL"
    return "BYTES"


def server_metadata(version: str) -> dict[str, Any]:
    return {"name": "modelpilot", "version": version, "extensions": ["binary_tensor_data"]}


# -- internals ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tensor:
    """One input tensor: JSON elements (`flat`) or little-endian bytes (`raw`, BYTES
    already split into `flat`)."""

    index: int
    name: str
    shape: list[int]
    datatype: str
    flat: list[Any]
    raw: bytes | None = None

    def to_array(self, *, columns: int, missing: bool = False) -> np.ndarray:
        """Typed and shaped; a wrong element type names its row and column. With `missing`,
        null elements are missing values: NaN in a number tensor (float64), None in BYTES."""
        dtype, allowed = DATATYPES[self.datatype]
        if missing and self.datatype != "BOOL" and None in self.flat:
            allowed = allowed | {type(None)}
            dtype = object if dtype is object else np.float64
        if self.raw is not None:
            return binary.decode_fixed(
                self.raw, name=self.name, datatype=self.datatype, dtype=dtype, shape=self.shape
            )
        flat = self.flat
        if not set(map(type, flat)) <= allowed:
            i = next(i for i, v in enumerate(flat) if type(v) not in allowed)
            row, column = divmod(i, columns)
            raise InvalidInput(
                f"input {self.name!r} is {self.datatype} but element {i} (row {row}, column "
                f"{column}) is {_json_type(flat[i])} {flat[i]!r:.40}",
                row=row,
                column=column,
            )
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # overflow -> inf, caught later
                array = np.array(flat, dtype=dtype)
        except OverflowError:
            raise InvalidInput(
                f"input {self.name!r}: a value does not fit {self.datatype}"
            ) from None
        return array.reshape(self.shape)


def _parse_tensor(
    index: int, tensor: Any, layout: FeatureLayout, *, raw: bytes | None = None
) -> Tensor:
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict):
        raise MalformedRequest(f"{where} must be a tensor object, got {_json_type(tensor)}")
    name = tensor.get("name")
    shape = tensor.get("shape")
    datatype = tensor.get("datatype")
    data = tensor.get("data")
    if not isinstance(name, str):
        raise MalformedRequest(f'{where}: "name" must be a string')
    where = f"input {name!r}"
    if (
        not isinstance(shape, list)
        or not shape
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise MalformedRequest(f'{where}: "shape" must be a non-empty list of sizes >= 0')
    if datatype not in DATATYPES:
        raise MalformedRequest(
            f'{where}: unsupported "datatype" {datatype!r}; one of {", ".join(DATATYPES)}'
        )
    expected = math.prod(shape)
    if raw is not None:
        if data is not None:
            raise MalformedRequest(
                f'{where}: has both "data" and parameters.{binary.SIZE_PARAMETER}; send one'
            )
        if datatype == "BYTES":
            # From the declaration alone, before the per-element decoding loop.
            declared.check_shape(name, shape, layout)
            declared.check_bytes_size(name, expected, len(raw))
            return Tensor(
                index=index,
                name=name,
                shape=shape,
                datatype=datatype,
                flat=binary.decode_bytes(raw, name=name, count=expected),
            )
        return Tensor(index=index, name=name, shape=shape, datatype=datatype, flat=[], raw=raw)
    if not isinstance(data, list):
        raise MalformedRequest(
            f'{where}: "data" must be an array (or send the tensor as binary data with '
            f"parameters.{binary.SIZE_PARAMETER})"
        )
    flat = _flatten(data, where=where)
    if len(flat) != expected:
        raise InvalidInput(
            f'{where}: shape {shape} needs {expected} elements, "data" has {len(flat)}'
        )
    return Tensor(index=index, name=name, shape=shape, datatype=datatype, flat=flat)


def _flatten(data: list[Any], *, where: str) -> list[Any]:
    depth = 0
    while data and type(data[0]) is list:
        if not all(type(item) is list for item in data):
            raise MalformedRequest(f'{where}: "data" mixes arrays and scalars at one level')
        data = list(chain.from_iterable(data))
        depth += 1
        if depth > 8:
            raise MalformedRequest(f'{where}: "data" is nested too deeply')
    return data


def _requested_outputs(outputs: Any, *, has_proba: bool) -> tuple[str, ...]:
    if outputs is None:
        return (OUTPUT_PREDICT,)
    if not isinstance(outputs, list):
        raise MalformedRequest('"outputs" must be a list of {"name": ...} objects')
    names: list[str] = []
    for i, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, dict) else None
        if name not in (OUTPUT_PREDICT, OUTPUT_PROBA):
            raise InvalidInput(
                f"outputs[{i}]: unknown output {name!r}; this model offers "
                f"{OUTPUT_PREDICT!r}" + (f" and {OUTPUT_PROBA!r}" if has_proba else "")
            )
        if name == OUTPUT_PROBA and not has_proba:
            raise InvalidInput(
                "this model has no predict_proba (it is not a probabilistic classifier)"
            )
        if name not in names:
            names.append(name)
    return tuple(names) or (OUTPUT_PREDICT,)


def _columns_to_matrix(tensors: list[Tensor], layout: FeatureLayout) -> np.ndarray:
    """One tensor per feature, matched by name."""
    by_name: dict[str, Tensor] = {}
    for tensor in tensors:
        column = layout.index_of(tensor.name)
        if column is None:
            if len(tensors) == 1:
                raise InvalidInput(
                    f"input {tensor.name!r} has shape {tensor.shape}; send one tensor of shape "
                    f"[rows, {layout.count}], or one tensor per feature named "
                    f"{', '.join(layout.names)}"
                )
            raise InvalidInput(
                f"input {tensor.name!r} is not a feature of this model; features are "
                f"{', '.join(layout.names)}"
            )
        if tensor.name in by_name:
            raise InvalidInput(f"input {tensor.name!r} appears twice", column=column)
        if not (len(tensor.shape) == 1 or (len(tensor.shape) == 2 and tensor.shape[1] == 1)):
            raise InvalidInput(
                f"input {tensor.name!r} has shape {tensor.shape}; a per-feature input has "
                "shape [rows] or [rows, 1]",
                column=column,
                feature=tensor.name,
            )
        by_name[tensor.name] = tensor
    missing = [n for n in layout.names if n not in by_name]
    if missing:
        column = layout.index_of(missing[0])
        raise InvalidInput(
            f"missing input(s) for feature(s) {', '.join(map(repr, missing))}",
            column=column,
            feature=missing[0],
        )
    rows = {t.shape[0] for t in by_name.values()}
    if len(rows) != 1:
        raise InvalidInput(f"per-feature inputs have different row counts: {sorted(rows)}")
    n_rows = rows.pop()
    check_row_count(n_rows, layout)
    columns = []
    for column, name in enumerate(layout.names):
        tensor = by_name[name]
        kind = layout.kinds[column]
        if kind in "biuf" and tensor.datatype == "BYTES":
            raise InvalidInput(
                f"input {name!r} is BYTES but feature {name!r} is numeric",
                column=column,
                feature=name,
            )
        if kind not in "biuf" and tensor.datatype != "BYTES":
            raise InvalidInput(
                f"input {name!r} is {tensor.datatype} but feature {name!r} holds strings; "
                "send BYTES",
                column=column,
                feature=name,
            )
        try:
            columns.append(tensor.to_array(columns=1, missing=True).reshape(-1))
        except InvalidInput as exc:
            raise InvalidInput(exc.message, row=exc.row, column=column, feature=name) from None
    if layout.numeric:
        matrix = np.column_stack([c.astype(np.float64, copy=False) for c in columns])
    else:
        matrix = np.empty((n_rows, layout.count), dtype=object)
        for column, values in enumerate(columns):
            matrix[:, column] = values
    return check_matrix(matrix, layout, source="inputs")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)
