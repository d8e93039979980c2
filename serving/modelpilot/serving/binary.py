"""The binary tensor data extension of the Open Inference Protocol's HTTP/REST binding.

Triton's and KServe's Python clients send tensors this way by default (`set_data_from_numpy`):
the body is a JSON header of `Inference-Header-Content-Length` bytes, followed by each
binary input's raw bytes in the order the header lists the inputs. An input carries its
byte count in `parameters.binary_data_size` instead of a `data` array. Fixed-size types are
little-endian, row-major, without padding; BYTES elements are each a 4-byte little-endian
length followed by that many bytes. Responses mirror it: an output asked for with
`parameters.binary_data: true` (or every output, with the request's
`parameters.binary_data_output: true`) comes after the JSON header, whose length the
response's `Inference-Header-Content-Length` header gives.

Everything here is as strict as the JSON path: a size that does not add up is a 400 naming
the input, never a 500 or a silently truncated tensor. Parsing a float tensor is one
`np.frombuffer` (no per-element Python objects), which is why this path is cheaper than
JSON for anything but the smallest tensors.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from .errors import InvalidInput, MalformedRequest

HEADER = "inference-header-content-length"
HEADER_BYTES = HEADER.encode()
CONTENT_TYPE = "application/octet-stream"
SIZE_PARAMETER = "binary_data_size"
OUTPUT_PARAMETER = "binary_data"
ALL_OUTPUTS_PARAMETER = "binary_data_output"

_LENGTH = struct.Struct("<I")


def header_length(value: str | bytes | None) -> int | None:
    """The `Inference-Header-Content-Length` header's value, checked."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    try:
        length = int(text)
    except ValueError:
        length = -1
    if length < 0 or not text.strip().isdigit():
        raise MalformedRequest(
            f"{HEADER} must be a byte count (a non-negative integer), got {text!r:.40}"
        )
    return length


def split(body: bytes, length: int) -> tuple[bytes, bytes]:
    """(JSON header, binary payload) of a request body."""
    if length > len(body):
        raise MalformedRequest(f"{HEADER} is {length} but the body has only {len(body)} bytes")
    return body[:length], body[length:]


def input_chunks(inputs: list[Any], payload: bytes) -> list[bytes | None]:
    """Each input's raw bytes (None for a JSON `data` input), cut from the payload in order.

    Raises naming the input whose size is not a byte count, or when the sizes and the
    payload do not add up."""
    chunks: list[bytes | None] = []
    offset = 0
    for i, tensor in enumerate(inputs):
        size = binary_size(tensor, index=i)
        if size is None:
            chunks.append(None)
            continue
        if offset + size > len(payload):
            raise InvalidInput(
                f"input {_name(tensor, i)!r}: {SIZE_PARAMETER} is {size} but only "
                f"{len(payload) - offset} bytes of binary data are left after the JSON header"
            )
        chunks.append(payload[offset : offset + size])
        offset += size
    if offset != len(payload):
        raise InvalidInput(
            f"the body has {len(payload)} bytes of binary data after the JSON header but the "
            f"inputs' {SIZE_PARAMETER} add up to {offset}"
        )
    return chunks


def binary_size(tensor: Any, *, index: int) -> int | None:
    if not isinstance(tensor, dict):
        return None  # the tensor parser names that problem
    parameters = tensor.get("parameters")
    if not isinstance(parameters, dict) or SIZE_PARAMETER not in parameters:
        return None
    size = parameters[SIZE_PARAMETER]
    if type(size) is not int or size < 0:
        raise MalformedRequest(
            f"input {_name(tensor, index)!r}: {SIZE_PARAMETER} must be a byte count "
            f"(an integer >= 0), got {size!r:.40}"
        )
    return size


def decode_fixed(
    raw: bytes, *, name: str, datatype: str, dtype: Any, shape: list[int]
) -> np.ndarray:
    """A fixed-size tensor from its little-endian bytes (a read-only view, no copy)."""
    little = np.dtype(dtype).newbyteorder("<")
    count = math.prod(shape)
    if len(raw) != count * little.itemsize:
        raise InvalidInput(
            f"input {name!r}: shape {shape} of {datatype} needs {count * little.itemsize} bytes "
            f"({count} x {little.itemsize}), {SIZE_PARAMETER} is {len(raw)}"
        )
    array = np.frombuffer(raw, dtype=little)
    if datatype == "BOOL" and array.size and np.frombuffer(raw, dtype=np.uint8).max() > 1:
        raise InvalidInput(f"input {name!r}: BOOL elements must be bytes 0 or 1")
    return array.reshape(shape)


def decode_bytes(raw: bytes, *, name: str, count: int) -> list[str]:
    """BYTES elements: each a 4-byte little-endian length, then the (UTF-8) bytes."""
    out: list[str] = []
    offset, end = 0, len(raw)
    while offset < end:
        if offset + 4 > end:
            raise InvalidInput(
                f"input {name!r}: element {len(out)} has a truncated 4-byte length prefix"
            )
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + length > end:
            raise InvalidInput(
                f"input {name!r}: element {len(out)} says {length} bytes, "
                f"only {end - offset} are left"
            )
        try:
            out.append(raw[offset : offset + length].decode())
        except UnicodeDecodeError:
            raise InvalidInput(
                f"input {name!r}: element {len(out)} is not UTF-8 text", row=len(out)
            ) from None
        offset += length
        if len(out) > count:
            break
    if len(out) != count:
        raise InvalidInput(
            f"input {name!r}: the shape needs {count} BYTES elements, the binary data holds "
            f"{'more' if len(out) > count else len(out)}"
        )
    return out


def encode_array(array: np.ndarray) -> bytes:
    """An output tensor's raw bytes: little-endian numbers, or length-prefixed BYTES."""
    if array.dtype.kind in "biuf":
        return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    parts = []
    for item in array.reshape(-1).tolist():
        data = item if isinstance(item, bytes) else str(item).encode()
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def requested_binary(request: dict[str, Any], names: tuple[str, ...]) -> frozenset[str]:
    """The outputs to send as binary: each output's `binary_data`, defaulting to the
    request's `binary_data_output` (False)."""
    parameters = request.get("parameters")
    default = False
    if isinstance(parameters, dict) and ALL_OUTPUTS_PARAMETER in parameters:
        default = _flag(parameters[ALL_OUTPUTS_PARAMETER], ALL_OUTPUTS_PARAMETER)
    by_name: dict[str, bool] = {}
    outputs = request.get("outputs")
    if isinstance(outputs, list):
        for output in outputs:
            if not isinstance(output, dict):
                continue
            output_parameters = output.get("parameters")
            if isinstance(output_parameters, dict) and OUTPUT_PARAMETER in output_parameters:
                by_name[str(output.get("name"))] = _flag(
                    output_parameters[OUTPUT_PARAMETER], OUTPUT_PARAMETER
                )
    return frozenset(n for n in names if by_name.get(n, default))


def render(
    header: dict[str, Any], tensors: list[tuple[dict[str, Any], np.ndarray, bool]], encode: Any
) -> tuple[bytes, int | None]:
    """(body, JSON header length or None): outputs flagged binary go after the header."""
    outputs = []
    blobs = []
    for tensor, array, binary in tensors:
        if binary:
            blob = encode_array(array)
            tensor = {**tensor, "parameters": {SIZE_PARAMETER: len(blob)}}
            blobs.append(blob)
        outputs.append(tensor)
    header = {**header, "outputs": outputs}
    text = encode(header)
    if not blobs:
        return text, None
    return b"".join((text, *blobs)), len(text)


def _flag(value: Any, name: str) -> bool:
    if type(value) is not bool:
        raise MalformedRequest(f"parameter {name!r} must be true or false, got {value!r:.40}")
    return value


def _name(tensor: Any, index: int) -> str:
    name = tensor.get("name") if isinstance(tensor, dict) else None
    return name if isinstance(name, str) else f"inputs[{index}]"
