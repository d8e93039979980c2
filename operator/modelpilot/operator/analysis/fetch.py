"""One bounded HTTP GET: every request the operator makes to a tenant's endpoint goes here.

Pod /metrics pages and a Prometheus are reached on behalf of one ModelDeployment, and the
operator serves every ModelDeployment from one process. So a request has

- a total deadline (httpx's timeouts are per read: a server that trickles a byte a second
  would otherwise hold a worker forever);
- a maximum response size, counted on the decoded bytes (a compressed bomb counts at its
  real size), refused from Content-Length before anything is read when it says so;
- an error message that never carries the response body: what a tenant's endpoint answers
  may reach status and Events, and those are not the tenant's to write.

The caller decides what a failure means (the pods source: that pod is unreachable this
window; Prometheus: the window is inconclusive).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import httpx

from modelpilot.operator.analysis.errors import MetricsUnavailable

DEADLINE_SECONDS = 3.0
# A /metrics page with every class of a 10,000-class model is about 1 MB; a Prometheus
# instant vector of the same size too. Anything larger is not an answer analysis can use.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
# The per-read timeout of the shared client; the deadline above bounds the whole request.
READ_TIMEOUT_SECONDS = 2.0


def client() -> httpx.Client:
    """The operator's client for tenant endpoints: no redirects, short per-read timeouts."""
    return httpx.Client(
        timeout=httpx.Timeout(READ_TIMEOUT_SECONDS),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
    )


def get(
    http: httpx.Client,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    deadline_seconds: float = DEADLINE_SECONDS,
    max_bytes: int = MAX_RESPONSE_BYTES,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, bytes]:
    """(status code, body) of GET url, or MetricsUnavailable naming what was exceeded."""
    start = clock()
    try:
        with http.stream("GET", url, params=params) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise MetricsUnavailable(
                    f"{url}: answer of {int(declared)} bytes is over the {max_bytes}-byte limit"
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise MetricsUnavailable(f"{url}: answer is over the {max_bytes}-byte limit")
                if clock() - start > deadline_seconds:
                    raise MetricsUnavailable(
                        f"{url}: no complete answer within {deadline_seconds:g}s"
                    )
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)
    except httpx.HTTPError as error:
        # httpx's messages name the failure (timed out, refused), never the body.
        raise MetricsUnavailable(f"{url}: {type(error).__name__}: {str(error)[:200]}") from error
