"""JSON bytes in and out, fast on the happy path and precise when a body is wrong.

orjson parses and serialises (numpy arrays included, without a tolist() copy). It refuses
NaN/Infinity literals and numbers that overflow a double; Python's json module (and so many
Python clients) writes those, so on an orjson failure the body is parsed once more by the
standard library: if that succeeds, feature validation reports the row and column of the
non-finite value instead of a vague "malformed JSON".
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from .errors import MalformedRequest

_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def decode_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or MalformedRequest saying why not."""
    if not body:
        raise MalformedRequest("request body is empty; expected a JSON object")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            where = ""
            if getattr(exc, "lineno", None) is not None:
                where = f" (line {exc.lineno}, column {exc.colno})"
            raise MalformedRequest(f"request body is not valid JSON{where}") from None
    if not isinstance(value, dict):
        raise MalformedRequest(f"request body must be a JSON object, got {type(value).__name__}")
    return value


def encode(value: Any) -> bytes:
    return orjson.dumps(value, option=_DUMPS_OPTIONS)


def jsonable_array(array: np.ndarray) -> np.ndarray | list[Any]:
    """orjson serialises numeric, C-contiguous arrays natively; anything else goes via lists."""
    if array.dtype.kind in "biuf" and array.flags.c_contiguous:
        return array
    if array.dtype.kind in "biuf":
        return np.ascontiguousarray(array)
    return array.tolist()
