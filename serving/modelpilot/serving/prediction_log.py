"""Prediction logs: sampled requests and their predictions, written as Parquet files in batches.

What is logged is what a retrain needs (spec.training.dataset.include [feedback]): each row
of a sampled request with its request id, its features as the model received them, the
prediction and the revision, plus every label fed back (POST /v2/models/NAME/feedback).
The trainer joins the two by request id.

Never in a request's way. A request only appends to an in-memory buffer under a lock held
for an append; a writer thread takes the whole buffer and writes one file per batch. The
buffer is bounded (maxBufferedRows): a request that finds it full is not logged — counted
in modelpilot_prediction_log_dropped_rows_total — rather than waiting for the disk. A write
that fails (store full, directory not writable) drops that batch and is counted too;
serving goes on.

Files appear whole: each is written under a dot-name and renamed, so a reader (the trainer)
never sees half a file. Names carry the pod and a sequence number, so pods never collide.
Reserved columns start with `_` (`_request_id`, `_row`, `_logged_at`, `_revision`,
`_prediction`; labels files: `_request_id`, `_row`, `_label`, `_labelled_at`); the others are
the model's features by name.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .features import FeatureLayout

log = logging.getLogger("modelpilot.serving")

REQUEST_ID = "_request_id"
ROW = "_row"
LOGGED_AT = "_logged_at"
REVISION = "_revision"
PREDICTION = "_prediction"
LABEL = "_label"
LABELLED_AT = "_labelled_at"
REQUESTS_PREFIX = "requests-"
LABELS_PREFIX = "labels-"


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    request_id: str
    at: float  # seconds since the epoch
    features: np.ndarray  # rows x features, as the model received them
    predictions: np.ndarray  # one per row


@dataclass(frozen=True, slots=True)
class LoggedLabel:
    request_id: str
    row: int
    label: Any
    at: float


def requests_table(items: Sequence[LoggedRequest], layout: FeatureLayout, revision: str) -> Any:
    """One pyarrow Table of the requests' rows: numeric features as float64 (NaN for a
    missing value), the others as strings (null for a missing value)."""
    import pyarrow as pa

    # Column-wise with numpy (the writer thread builds thousands of rows per batch; a
    # Python loop per row showed in the serving bench's CPU per request).
    counts = np.fromiter((len(i.predictions) for i in items), dtype=np.int64, count=len(items))
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    ids = np.repeat(np.array([i.request_id for i in items], dtype=object), counts)
    rows = np.arange(total, dtype=np.int32) - starts.astype(np.int32)
    ats = np.repeat(np.array([int(i.at * 1000) for i in items], dtype=np.int64), counts)
    predictions = (
        np.concatenate([np.asarray(i.predictions).reshape(-1) for i in items]).tolist()
        if items
        else []
    )
    matrix = (
        np.concatenate([i.features for i in items])
        if items
        else np.empty((0, len(layout.names)), dtype=np.float64)
    )
    columns: dict[str, Any] = {
        REQUEST_ID: pa.array(ids, pa.string()),
        ROW: pa.array(rows, pa.int32()),
        LOGGED_AT: pa.array(ats, pa.timestamp("ms", tz="UTC")),
        REVISION: pa.array(np.full(total, revision, dtype=object), pa.string()),
    }
    for column, (name, kind) in enumerate(zip(layout.names, layout.kinds, strict=True)):
        values = matrix[:, column]
        if kind in "biuf":
            columns[name] = pa.array(np.asarray(values, dtype=np.float64), pa.float64())
        else:
            columns[name] = pa.array([_text(v) for v in values.tolist()], pa.string())
    columns[PREDICTION] = pa.array(predictions)
    return pa.table(columns)


def labels_table(items: Sequence[LoggedLabel]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            REQUEST_ID: pa.array([i.request_id for i in items], pa.string()),
            ROW: pa.array([i.row for i in items], pa.int32()),
            LABEL: pa.array([i.label for i in items]),
            LABELLED_AT: pa.array([int(i.at * 1000) for i in items], pa.timestamp("ms", tz="UTC")),
        }
    )


def write_parquet(table: Any, directory: Path, name: str) -> Path:
    """`table` as directory/name, appearing whole (written under a dot-name, then renamed)."""
    import pyarrow.parquet as pq

    final = directory / name
    partial = directory / f".{name}.partial"
    pq.write_table(table, partial, compression="zstd")
    os.replace(partial, final)
    return final


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


class PredictionLog:
    """The bounded buffer and its writer thread (see the module docstring)."""

    def __init__(
        self,
        *,
        directory: Path,
        layout: FeatureLayout,
        revision: str,
        pod: str,
        max_buffered_rows: int,
        flush_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.layout = layout
        self.revision = revision
        self.pod = pod
        self.max_buffered_rows = max_buffered_rows
        self.flush_seconds = flush_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._requests: list[LoggedRequest] = []
        self._labels: list[LoggedLabel] = []
        self._rows = 0  # rows waiting in _requests and _labels
        self._sequence = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        # Counters read by /metrics (ints updated under the lock or by the one writer).
        self.written_rows = 0
        self.dropped_rows = 0
        self.write_errors = 0

    # -- the request side: never blocks beyond one append ------------------------------

    def offer(self, item: LoggedRequest) -> bool:
        """Buffer a request's rows; False (and counted) when the buffer has no room."""
        rows = len(item.predictions)
        with self._lock:
            if self._rows + rows > self.max_buffered_rows:
                self.dropped_rows += rows
                return False
            self._requests.append(item)
            self._rows += rows
            wake = self._rows * 2 >= self.max_buffered_rows
        if wake:
            self._wake.set()
        return True

    def offer_labels(self, labels: Sequence[LoggedLabel]) -> bool:
        with self._lock:
            if self._rows + len(labels) > self.max_buffered_rows:
                self.dropped_rows += len(labels)
                return False
            self._labels.extend(labels)
            self._rows += len(labels)
        return True

    @property
    def buffered_rows(self) -> int:
        return self._rows

    # -- the writer side -----------------------------------------------------------------

    def flush(self) -> int:
        """Write what is buffered (one requests file, one labels file); rows written."""
        with self._lock:
            requests, labels = self._requests, self._labels
            self._requests, self._labels, self._rows = [], [], 0
        written = 0
        for prefix, items, build in (
            (
                REQUESTS_PREFIX,
                requests,
                lambda: requests_table(requests, self.layout, self.revision),
            ),
            (LABELS_PREFIX, labels, lambda: labels_table(labels)),
        ):
            if not items:
                continue
            rows = (
                sum(len(i.predictions) for i in requests)
                if prefix == REQUESTS_PREFIX
                else len(labels)
            )
            self._sequence += 1
            name = f"{prefix}{int(self.clock())}-{self.pod}-{self._sequence:06d}.parquet"
            try:
                write_parquet(build(), self.directory, name)
            except Exception as error:  # never out of the writer: serving goes on
                self.write_errors += 1
                self.dropped_rows += rows
                log.warning(
                    "prediction log: could not write %d rows to %s: %s: %s",
                    rows,
                    self.directory,
                    type(error).__name__,
                    error,
                )
                continue
            written += rows
        self.written_rows += written
        return written

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is left (SIGTERM: the pod's last batch is not lost)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._stopping:
                return
            self.flush()
