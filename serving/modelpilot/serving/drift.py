"""Counting live inputs into the training reference's bins, for drift monitoring.

The bins are the bundle's (modelpilot.api.drift); the counts go to /metrics as
`modelpilot_feature_bin_total{feature, bin}` beside the reference shares
`modelpilot_feature_reference_ratio{feature, bin}`, so the operator needs nothing but the
stable pods' /metrics to compute PSI. The series are bounded by the reference's cap.

A categorical bin is labelled by its index (`c0`, `c1`, ..., `other`) unless the model owner
opts in (spec.monitoring.publishCategoryValues, `--publish-category-values`): the values are
the training data's most frequent ones, and /metrics is readable by whoever reaches the pod
(issue 21 §7). The operator needs only that live and reference bins share their labels.

The hot path (once per micro-batch, in the predict thread) only appends the batch to a list:
counting is deferred until /metrics is scraped or FLUSH_ROWS rows are pending, and then all
numeric features of all pending rows are one broadcast comparison against a padded edge
matrix, summed over the rows, into a flat int64 array (no Prometheus child objects, no
per-row or per-feature Python); only categorical features walk their values. The
exposition builds the families from that array when /metrics is scraped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from modelpilot.api import serving_metrics as names
from modelpilot.api.drift import (
    FEATURE_BIN_TOTAL,
    FEATURE_REFERENCE_RATIO,
    LABEL_BIN,
    LABEL_FEATURE,
    DriftReference,
)

# Pending rows that make count() count at once (bounds what is held between scrapes).
FLUSH_ROWS = 4096


class DriftCounter(Collector):
    """Live input rows per reference bin, since the server started; a Prometheus collector."""

    def __init__(
        self,
        reference: DriftReference,
        feature_names: Sequence[str],
        *,
        model: str,
        version: str,
        category_values: bool = False,
    ) -> None:
        self.model, self.version = model, version
        position = {name: i for i, name in enumerate(feature_names)}
        numeric_columns: list[int] = []
        numeric_edges: list[list[float]] = []
        numeric_offsets: list[int] = []
        self._categorical: list[tuple[int, dict[str, int], int]] = []
        self.slots: list[tuple[str, str]] = []  # (feature, bin label) per counter slot
        shares: list[float] = []
        for feature in reference.features:
            column = position.get(feature.name)
            if column is None:
                continue  # not an input of this model (a reference from another layout)
            offset = len(self.slots)
            if feature.kind == "numeric":
                numeric_columns.append(column)
                numeric_edges.append(feature.edges)
                numeric_offsets.append(offset)
            else:
                index = {c: offset + i for i, c in enumerate(feature.categories)}
                self._categorical.append((column, index, offset + len(feature.categories)))
            total = sum(feature.counts) or 1
            labels = feature.bin_labels()
            if feature.kind != "numeric" and not category_values:
                labels = [*(f"c{i}" for i in range(len(feature.categories))), labels[-1]]
            for label, count in zip(labels, feature.counts, strict=True):
                self.slots.append((feature.name, label))
                shares.append(count / total)
        self._numeric_columns = np.asarray(numeric_columns, dtype=np.intp)
        # All numeric edges as one (features x MAX_BINS-1) matrix padded with +inf, so a
        # value's bin is the number of edges <= it (searchsorted side="right") for every
        # feature in one broadcast comparison instead of one numpy call per feature.
        width = max((len(e) for e in numeric_edges), default=0)
        self._edges = np.full((len(numeric_edges), max(width, 1)), np.inf)
        for j, edges in enumerate(numeric_edges):
            self._edges[j, : len(edges)] = edges
        # Where each real bin of that padded (features x width+1) layout goes in `counts`.
        padded_bins = self._edges.shape[1] + 1
        self._numeric_slots = np.asarray(
            [
                o + i
                for o, e in zip(numeric_offsets, numeric_edges, strict=True)
                for i in range(len(e) + 1)
            ],
            dtype=np.intp,
        )
        self._padded_take = np.asarray(
            [j * padded_bins + i for j, e in enumerate(numeric_edges) for i in range(len(e) + 1)],
            dtype=np.intp,
        )
        self._all_numeric = not self._categorical and numeric_columns == list(
            range(len(feature_names))
        )
        self.reference_shares = shares
        self._counts = np.zeros(len(self.slots), dtype=np.int64)
        # Batches not counted yet, and their rows: counting is deferred to a scrape or to
        # FLUSH_ROWS rows, so its fixed cost (a dozen numpy calls) is paid per thousands of
        # rows, not per request. The arrays are the requests' own (never mutated after).
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._lock = threading.Lock()

    @property
    def counts(self) -> np.ndarray:
        """Rows per slot so far (counts what is pending first)."""
        self.flush()
        return self._counts

    def count(self, features: np.ndarray) -> None:
        """Take one batch (rows x features, in the bundle's feature order): O(1) here."""
        if not self.slots:
            return
        with self._lock:
            self._pending.append(features)
            self._pending_rows += len(features)
            full = self._pending_rows >= FLUSH_ROWS
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending, self._pending_rows = self._pending, [], 0
        if pending:
            self._count_now(pending[0] if len(pending) == 1 else np.concatenate(pending))

    def _count_now(self, features: np.ndarray) -> None:
        if len(self._numeric_columns):
            block = features if self._all_numeric else features[:, self._numeric_columns]
            if block.dtype != np.float64:
                block = block.astype(np.float64)
            # Rows at or above each edge, per feature; a bin's count is the difference of its
            # two edges' (no per-row bin index, no bincount).
            at_or_above = (block[:, :, None] >= self._edges).sum(axis=0)
            rows = np.full((at_or_above.shape[0], 1), block.shape[0])
            zeros = np.zeros((at_or_above.shape[0], 1), dtype=at_or_above.dtype)
            per_bin = -np.diff(np.concatenate((rows, at_or_above, zeros), axis=1), axis=1)
            self._counts[self._numeric_slots] += per_bin.ravel()[self._padded_take]  # unique
        for column, index, other in self._categorical:
            for value in features[:, column].tolist():
                self._counts[index.get(str(value), other)] += 1

    def collect(self) -> Iterator[Any]:
        self.flush()
        labels = [names.LABEL_MODEL, names.LABEL_VERSION, LABEL_FEATURE, LABEL_BIN]
        live = CounterMetricFamily(
            FEATURE_BIN_TOTAL.removesuffix("_total"),
            "Live input rows per feature bin of the training reference.",
            labels=labels,
        )
        reference = GaugeMetricFamily(
            FEATURE_REFERENCE_RATIO,
            "The training rows' share of each feature bin (the drift reference).",
            labels=labels,
        )
        for (feature, label), count, share in zip(
            self.slots, self._counts.tolist(), self.reference_shares, strict=True
        ):
            key = [self.model, self.version, feature, label]
            live.add_metric(key, count)
            reference.add_metric(key, share)
        yield live
        yield reference
