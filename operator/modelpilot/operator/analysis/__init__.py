"""Canary analysis: live counters of stable and canary, and the verdict on each window.

Pure modules — `counts` (counters, windows, status snapshots), `exposition` (parse a
/metrics page), `measures` (p99, error rates, PSI), `verdict` (`evaluate`) — and the
`MetricsSource` Protocol (`source`) with two implementations that do I/O: `pods` (scrape each
pod's /metrics, the default) and `prometheus`. Importing this package imports neither httpx
nor kubernetes; import `pods` / `prometheus` where sources are built.
"""

from modelpilot.operator.analysis.counts import Counts, Snapshot, window
from modelpilot.operator.analysis.errors import MetricsError, MetricsSpecError, MetricsUnavailable
from modelpilot.operator.analysis.exposition import parse_metrics
from modelpilot.operator.analysis.measures import (
    client_error_rate,
    error_rate,
    histogram_quantile,
    latency_p99_ms,
    prediction_psi,
    psi,
)
from modelpilot.operator.analysis.source import MetricsSource, Sample
from modelpilot.operator.analysis.verdict import (
    AnalysisVerdict,
    Limits,
    Measurements,
    VerdictKind,
    evaluate,
)

__all__ = [
    "AnalysisVerdict",
    "Counts",
    "Limits",
    "Measurements",
    "MetricsError",
    "MetricsSource",
    "MetricsSpecError",
    "MetricsUnavailable",
    "Sample",
    "Snapshot",
    "VerdictKind",
    "client_error_rate",
    "error_rate",
    "evaluate",
    "histogram_quantile",
    "latency_p99_ms",
    "parse_metrics",
    "prediction_psi",
    "psi",
    "window",
]
