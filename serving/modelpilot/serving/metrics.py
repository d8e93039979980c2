"""The Prometheus series canary analysis reads, under the names fixed in modelpilot.api.

One registry per app (no process-global default registry), so two apps in one test process
never share counts. Labelled children are resolved once and cached: `labels()` takes a lock
and hashes its arguments, which is measurable at thousands of requests per second.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from modelpilot.api import feedback as stats
from modelpilot.api import serving_metrics as names
from modelpilot.api.metrics import Task

from .drift import DriftCounter
from .feedback import Joined
from .prediction_log import PredictionLog

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
        # Ground truth fed back by request id (feedback.py).
        self._confusion = Counter(
            _base(names.FEEDBACK_CONFUSION_TOTAL, "_total"),
            "Labelled predictions by the label fed back and the class predicted.",
            [names.LABEL_MODEL, names.LABEL_VERSION, names.LABEL_LABEL, names.LABEL_PREDICTED],
            registry=self.registry,
        )
        self._sums = dict.fromkeys(stats.SUM_STATS, 0.0)
        self._sum_gauges = Gauge(
            names.FEEDBACK_SUM,
            "Sums over labelled predictions (regression): rows, absError, squaredError, "
            "label, labelSquared.",
            [names.LABEL_MODEL, names.LABEL_VERSION, names.LABEL_STAT],
            registry=self.registry,
        )
        if not self._classification:
            for stat in stats.SUM_STATS:  # at 0 before the first label: a baseline to subtract
                self._sum_gauges.labels(model, version, stat).set(0.0)
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

    def observe_feedback(self, joined: Sequence[Joined]) -> None:
        """Labels joined with their predictions: the confusion counts or the error sums the
        operator computes the live metric from (modelpilot.api.feedback)."""
        if self._classification:
            for item in joined:
                for label, predicted in zip(item.labels, item.predictions, strict=True):
                    self._confusion.labels(
                        self.model, self.version, str(label), str(predicted)
                    ).inc()
            return
        for item in joined:
            for label, predicted in zip(item.labels, item.predictions, strict=True):
                error = float(label) - float(predicted)
                self._sums[stats.ROWS] += 1
                self._sums[stats.ABS_ERROR] += abs(error)
                self._sums[stats.SQUARED_ERROR] += error * error
                self._sums[stats.LABEL] += float(label)
                self._sums[stats.LABEL_SQUARED] += float(label) ** 2
        for stat, value in self._sums.items():
            self._sum_gauges.labels(self.model, self.version, stat).set(value)

    def watch_prediction_log(self, log: PredictionLog) -> None:
        self.registry.register(_PredictionLogCollector(log, self.model, self.version))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _PredictionLogCollector(Collector):
    """The prediction log's counters, read when scraped (the writer thread keeps them)."""

    def __init__(self, log: PredictionLog, model: str, version: str) -> None:
        self._log, self._labels = log, [model, version]

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, doc, value in (
            (
                names.PREDICTION_LOG_ROWS_TOTAL,
                "Rows written to prediction log files.",
                "written_rows",
            ),
            (
                names.PREDICTION_LOG_DROPPED_TOTAL,
                "Rows not logged: the buffer was full, or their file could not be written.",
                "dropped_rows",
            ),
            (
                names.PREDICTION_LOG_ERRORS_TOTAL,
                "Prediction log files that failed to write.",
                "write_errors",
            ),
        ):
            family = CounterMetricFamily(
                _base(name, "_total"), doc, labels=[names.LABEL_MODEL, names.LABEL_VERSION]
            )
            family.add_metric(self._labels, getattr(self._log, value))
            yield family
