"""Why live metrics could not be read.

    MetricsError
    ├── MetricsUnavailable   retryable: no pod answered /metrics, Prometheus was unreachable
    │                        or answered garbage; the next analysis interval tries again
    └── MetricsSpecError     permanent: the configured Prometheus query is not valid PromQL

The I/O edge (modelpilot.operator.live) acts on `retryable`: a retryable error makes this
window inconclusive and the next interval tries again; the others stall the canary with
Stalled=True (reason MetricsSpecInvalid, via modelpilot.operator.errors.from_component)
until a person fixes the query. The analysis modules never import kopf. A window that merely
has too few requests is not an error but an *inconclusive* verdict (see `verdict.py`).
"""

from __future__ import annotations


class MetricsError(Exception):
    """Base of every metrics error."""

    retryable = False


class MetricsUnavailable(MetricsError):
    """The metrics could not be read this time."""

    retryable = True


class MetricsSpecError(MetricsError):
    """The metrics configuration cannot work as written."""
