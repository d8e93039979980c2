"""Request ids: the key that ties a prediction to its log row and to the label fed back later.

A request's id is the Open Inference Protocol body's `id` when it has one (the client chose
it for this very request), else its `X-Request-Id` header (set by a gateway or a tracing
proxy), else one generated here. It is always returned: in the `X-Request-Id` response
header, and as the V2 response's `id`. Ids are text of at most MAX_LENGTH printable ASCII
characters; anything else is refused (400) rather than logged as given, since the id
becomes a Parquet value and a /feedback key.

Whether a request is logged is decided by a hash of its id, not a random draw: the same id
is sampled the same way by every pod and every retry, so a client that retries a request
does not double its chance, and a test can tell in advance which ids are logged.
"""

from __future__ import annotations

import hashlib
import uuid

from .errors import MalformedRequest

HEADER = "x-request-id"
HEADER_BYTES = HEADER.encode()
MAX_LENGTH = 128
_SCALE = float(1 << 64)


def generate() -> str:
    return uuid.uuid4().hex


def check(value: str, *, source: str) -> str:
    if not value or len(value) > MAX_LENGTH or not value.isascii() or not value.isprintable():
        raise MalformedRequest(
            f"{source} must be 1 to {MAX_LENGTH} printable ASCII characters to be used as the "
            "request id"
        )
    return value


def choose(header: bytes | str | None, body_id: str | None) -> str:
    """The request's id: the OIP body's `id`, else the header, else a new one."""
    if body_id is not None:
        return check(body_id, source='"id"')
    if header is not None:
        text = header.decode("latin-1") if isinstance(header, bytes) else header
        return check(text.strip(), source="the X-Request-Id header")
    return generate()


def sample_point(request_id: str) -> float:
    """Where the id falls in [0, 1): uniform over ids, fixed for a given id."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def sampled(request_id: str, rate: float) -> bool:
    """The request is logged at this sample rate (0: never; 1: always)."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return sample_point(request_id) < rate
