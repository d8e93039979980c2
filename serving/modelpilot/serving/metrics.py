"""The Prometheus series canary analysis reads, under the names fixed in modelpilot.api.

One registry per app (no process-global default registry), so two apps in one test process
never share counts. Labelled children are resolved once and cached: `labels()` takes a lock
and hashes its arguments, which is measurable at thousands of requests per second.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from modelpilot.api import serving_metrics as names
from modelpilot.api.metrics import Task

from .drift import DriftCounter

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _base(name: str, suffix: str) -> str:
    return name[: -len(suffix)] if name.endswith(suffix) else name


class ServingMetrics:
    def __init__(
        self,
        *,
        model: str,
        version: str,
        task: str,
        classes: list[Any] | None = None,
        drift: DriftCounter | None = None,
    ) -> None:
        self.model = model
        self.version = version
        self.registry = CollectorRegistry(auto_describe=True)
        self.drift = drift  # live input counts per reference bin; None without a reference
        if drift is not None:
            self.registry.register(drift)
        self._requests = Counter(
            _base(names.REQUESTS_TOTAL, "_total"),
            "Inference requests by model, version, protocol and HTTP status code.",
            [names.LABEL_MODEL, names.LABEL_VERSION, names.LABEL_PROTOCOL, names.LABEL_CODE],
            registry=self.registry,
        )
        self._duration = Histogram(
            names.REQUEST_DURATION,
            "Inference request latency in seconds, body read to response built.",
            [names.LABEL_MODEL, names.LABEL_VERSION, names.LABEL_PROTOCOL],
            buckets=names.DURATION_BUCKETS,
            registry=self.registry,
        )
        self._classification = task == Task.CLASSIFICATION
        if self._classification:
            self._predictions = Counter(
                _base(names.PREDICTIONS_TOTAL, "_total"),
                "Predicted classes by model and version.",
                [names.LABEL_MODEL, names.LABEL_VERSION, names.LABEL_CLASS],
                registry=self.registry,
            )
            for label in classes or ():
                self._predictions.labels(model, version, str(label))
        else:
            self._values = Histogram(
                names.PREDICTION_VALUE,
                "Predicted values (regression) by model and version.",
                [names.LABEL_MODEL, names.LABEL_VERSION],
                buckets=names.PREDICTION_VALUE_BUCKETS,
                registry=self.registry,
            ).labels(model, version)
        self._request_children: dict[tuple[str, int], Any] = {}
        self._duration_children: dict[str, Any] = {}
        for protocol in names.PROTOCOLS:  # series exist at 0 before the first request
            self._requests_child(protocol, 200)
            self._duration_child(protocol)

    def _requests_child(self, protocol: str, code: int) -> Any:
        key = (protocol, code)
        child = self._request_children.get(key)
        if child is None:
            child = self._requests.labels(self.model, self.version, protocol, str(code))
            self._request_children[key] = child
        return child

    def _duration_child(self, protocol: str) -> Any:
        child = self._duration_children.get(protocol)
        if child is None:
            child = self._duration.labels(self.model, self.version, protocol)
            self._duration_children[protocol] = child
        return child

    def observe_request(self, protocol: str, code: int, seconds: float) -> None:
        self._requests_child(protocol, code).inc()
        self._duration_child(protocol).observe(seconds)

    def observe_predictions(self, predictions: np.ndarray) -> None:
        """Called once per batch from the predict thread."""
        if self._classification:
            labels, counts = np.unique(predictions, return_counts=True)
            for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
                self._predictions.labels(self.model, self.version, str(label)).inc(count)
        else:
            observe = self._values.observe
            for value in np.asarray(predictions, dtype=np.float64).reshape(-1).tolist():
                observe(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)
