"""A model server's /metrics page, produced by prometheus_client with the shared names.

A helper module, not a conftest, so test modules import it by a name no other folder uses.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from modelpilot.api import serving_metrics as names


def render_metrics(
    *,
    model: str = "iris",
    version: str = "v1",
    requests: Iterable[tuple[str, str, int]] = (),  # (protocol, code, count)
    latencies: Iterable[float] = (),  # seconds, all on protocol v1
    classes: Iterable[tuple[str, int]] = (),
    values: Iterable[float] = (),
) -> str:
    registry = CollectorRegistry()
    request_counter = Counter(
        names.REQUESTS_TOTAL,
        "Requests.",
        [names.LABEL_MODEL, names.LABEL_VERSION, names.LABEL_PROTOCOL, names.LABEL_CODE],
        registry=registry,
    )
    duration = Histogram(
        names.REQUEST_DURATION,
        "Latency.",
        [names.LABEL_MODEL, names.LABEL_VERSION, names.LABEL_PROTOCOL],
        buckets=names.DURATION_BUCKETS,
        registry=registry,
    )
    predictions = Counter(
        names.PREDICTIONS_TOTAL,
        "Predictions.",
        [names.LABEL_MODEL, names.LABEL_VERSION, names.LABEL_CLASS],
        registry=registry,
    )
    prediction_value = Histogram(
        names.PREDICTION_VALUE,
        "Predicted values.",
        [names.LABEL_MODEL, names.LABEL_VERSION],
        buckets=names.PREDICTION_VALUE_BUCKETS,
        registry=registry,
    )
    for protocol, code, count in requests:
        request_counter.labels(model, version, protocol, code).inc(count)
    for seconds in latencies:
        duration.labels(model, version, "v1").observe(seconds)
    for label, count in classes:
        predictions.labels(model, version, label).inc(count)
    for value in values:
        prediction_value.labels(model, version).observe(value)
    return generate_latest(registry).decode()
