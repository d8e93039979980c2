"""What an input tensor declares, checked before a single element of it is decoded.

A tensor's shape and byte count are a few integers in its header; its elements may be
millions. Decoding BYTES elements is a Python loop (one str per element), so an 8 MiB body
of two-byte strings cost 0.6 s of the event loop and 90 MB before the row cap refused it.
These checks cost O(1) and refuse such a tensor from its declaration alone: more rows than
--max-batch-rows (413), more elements per row than the model has features, or fewer bytes
than its element count needs (400); each names the input. The later, precise checks
(v2.tensors_to_features) still say which feature or element is wrong in a tensor that
passes these.
"""

from __future__ import annotations

import math

from .errors import InvalidInput, PayloadTooLarge
from .features import FeatureLayout

# A BYTES element is at least its 4-byte little-endian length prefix (binary.py).
BYTES_PREFIX = 4


def check_shape(name: str, shape: list[int], layout: FeatureLayout) -> int:
    """The element count `shape` declares, once it fits one request of this model.

    Every accepted shape is [rows] or [rows, k] with k at most the feature count, so
    rows * features bounds the elements any accepted request makes the server decode."""
    rows = shape[0]
    if rows > layout.max_rows:
        raise PayloadTooLarge(
            f"input {name!r} has shape {shape}: {rows} rows; this server accepts at most "
            f"{layout.max_rows} per request (--max-batch-rows)"
        )
    per_row = math.prod(shape[1:])
    if per_row > layout.count:
        raise InvalidInput(
            f"input {name!r} has shape {shape}: {per_row} elements per row, the model has "
            f"{layout.count} feature(s) ({', '.join(layout.names)})"
        )
    return rows * per_row


def check_bytes_size(name: str, count: int, size: int) -> None:
    """A binary BYTES tensor of `count` elements cannot fit in fewer than 4 bytes each."""
    if size < count * BYTES_PREFIX:
        raise InvalidInput(
            f"input {name!r}: {count} BYTES elements need at least {count * BYTES_PREFIX} "
            f"bytes (a 4-byte length each), its binary data has {size}"
        )
