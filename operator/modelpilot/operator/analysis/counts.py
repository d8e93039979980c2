"""Serving counters of one model version, cumulative or over a window, and status snapshots.

The model server exports counters (requests by status code, predicted classes) and
histograms (latency, regression predictions). Analysis needs what happened *in a window*,
so it keeps the cumulative values of the previous scrape and subtracts: `window(prev, curr)`.
Status is the operator's only memory, so the cumulative state is a `Snapshot` that
round-trips through `to_status()` / `from_status()` as small plain JSON (zero buckets left
out, counts as integers where they are whole).

Histograms are held per bucket (observations in (previous bound, bound]), not cumulatively
as in the exposition format: each bucket is then a counter of its own, so windows and sums
are plain subtraction and addition, and zero buckets can be left out of a snapshot.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

REQUEST_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
OTHER_CLASS = "other"  # a code that is not a three-digit HTTP status

K = TypeVar("K")

# Bounds on what one version's counters may hold, so a snapshot in status stays small
# whatever the model and whatever a /metrics page says (see `bounded`).
MAX_CLASSES = 64
MAX_BUCKETS = 64
FOLDED_CLASS_PREFIX = "~"  # "~17": the classes whose label hashes to bucket 17


def code_class(code: str) -> str:
    """ "503" -> "5xx"; anything that is not an HTTP status -> "other"."""
    if len(code) == 3 and code.isdigit() and code[0] in "12345":
        return f"{code[0]}xx"
    return OTHER_CLASS


@dataclass(frozen=True, slots=True)
class Counts:
    """Counters of one version: cumulative (a scrape) or deltas (a window)."""

    # Requests by status class ("2xx", "4xx", "5xx", ...).
    requests: Mapping[str, float] = field(default_factory=dict)
    # Latency in seconds: bucket upper bound (math.inf last) -> requests in that bucket.
    latency: Mapping[float, float] = field(default_factory=dict)
    # Classification: predicted class label -> predictions.
    predicted_classes: Mapping[str, float] = field(default_factory=dict)
    # Regression: bucket upper bound -> predicted values in that bucket.
    prediction_values: Mapping[float, float] = field(default_factory=dict)

    @property
    def total_requests(self) -> float:
        return sum(self.requests.values())

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            requests=_add(self.requests, other.requests),
            latency=_add(self.latency, other.latency),
            predicted_classes=_add(self.predicted_classes, other.predicted_classes),
            prediction_values=_add(self.prediction_values, other.prediction_values),
        )

    def to_status(self) -> dict[str, Any]:
        """Plain JSON for status: string keys ("+Inf" for the last bound), no zero entries."""
        out = {
            "requests": _sparse(self.requests, str),
            "latency": _sparse(self.latency, format_bound),
            "classes": _sparse(self.predicted_classes, str),
            "values": _sparse(self.prediction_values, format_bound),
        }
        return {key: value for key, value in out.items() if value}

    @classmethod
    def from_status(cls, data: Mapping[str, Any]) -> Counts:
        return cls(
            requests={str(k): float(v) for k, v in (data.get("requests") or {}).items()},
            latency={float(k): float(v) for k, v in (data.get("latency") or {}).items()},
            predicted_classes={str(k): float(v) for k, v in (data.get("classes") or {}).items()},
            prediction_values={float(k): float(v) for k, v in (data.get("values") or {}).items()},
        )


def bounded(counts: Counts) -> Counts:
    """`counts` with at most MAX_CLASSES class keys and MAX_BUCKETS histogram bounds.

    A model with more classes than MAX_CLASSES has its classes folded into MAX_CLASSES
    buckets by a hash of the label: deterministic, so every pod, both versions and every
    scrape fold the same way, and PSI compares like with like (over a coarser partition,
    which can only understate a shift, never invent one). The transition from unfolded to
    folded (a model that starts predicting its 65th class) looks like a counter reset, which
    `window` already treats as one. Histograms with more bounds than MAX_BUCKETS (not a page
    our server writes) keep the MAX_BUCKETS largest bounds, lower ones merged upwards.
    """
    classes = counts.predicted_classes
    if len(classes) > MAX_CLASSES:
        folded: dict[str, float] = {}
        for label, value in classes.items():
            key = f"{FOLDED_CLASS_PREFIX}{_bucket_of(label)}"
            folded[key] = folded.get(key, 0.0) + value
        classes = folded
    return Counts(
        requests=dict(list(counts.requests.items())[: len(REQUEST_CLASSES) + 1]),
        latency=_coarsen(counts.latency),
        predicted_classes=classes,
        prediction_values=_coarsen(counts.prediction_values),
    )


def _bucket_of(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:4], "big") % MAX_CLASSES


def _coarsen(buckets: Mapping[float, float]) -> Mapping[float, float]:
    if len(buckets) <= MAX_BUCKETS:
        return buckets
    bounds = sorted(buckets)
    kept = bounds[-MAX_BUCKETS:]
    out = {bound: buckets[bound] for bound in kept}
    out[kept[0]] += sum(buckets[bound] for bound in bounds[:-MAX_BUCKETS])
    return out


def total(counts: Iterable[Counts]) -> Counts:
    """The sum of several pods' counters."""
    out = Counts()
    for item in counts:
        out = out + item
    return out


def is_reset(prev: Counts, curr: Counts) -> bool:
    """True when any counter went down: the process restarted (or it is another process)."""
    pairs: tuple[tuple[Mapping[Any, float], Mapping[Any, float]], ...] = (
        (prev.requests, curr.requests),
        (prev.latency, curr.latency),
        (prev.predicted_classes, curr.predicted_classes),
        (prev.prediction_values, curr.prediction_values),
    )
    return any(
        curr_map.get(key, 0.0) < value
        for prev_map, curr_map in pairs
        for key, value in prev_map.items()
    )


def window(prev: Counts | None, curr: Counts) -> Counts:
    """What happened between two scrapes of the same process.

    No previous scrape, or a counter reset (a restarted container starts from zero), means
    everything in `curr` happened since: the window is `curr` itself — what Prometheus'
    `increase()` does at a reset. Keys of `curr` are all kept, so histogram bounds survive.
    """
    if prev is None or is_reset(prev, curr):
        return curr
    return Counts(
        requests=_sub(curr.requests, prev.requests),
        latency=_sub(curr.latency, prev.latency),
        predicted_classes=_sub(curr.predicted_classes, prev.predicted_classes),
        prediction_values=_sub(curr.prediction_values, prev.prediction_values),
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Cumulative counters of one version, per pod (by pod IP), as last scraped.

    Per pod, so a restarted or replaced pod is a reset of its own and does not distort the
    others' deltas.
    """

    pods: Mapping[str, Counts] = field(default_factory=dict)

    def to_status(self) -> dict[str, Any]:
        return {pod: counts.to_status() for pod, counts in sorted(self.pods.items())}

    @classmethod
    def from_status(cls, data: Mapping[str, Any] | None) -> Snapshot | None:
        if data is None:
            return None
        return cls(pods={pod: Counts.from_status(c) for pod, c in data.items()})


def format_bound(bound: float) -> str:
    """A bucket bound as the exposition format writes it: 0.25, 1.0, +Inf."""
    return "+Inf" if bound == math.inf else repr(float(bound))


def per_bucket(cumulative: Mapping[float, float]) -> dict[float, float]:
    """Exposition-format cumulative buckets -> observations in each bucket."""
    out: dict[float, float] = {}
    below = 0.0
    for bound in sorted(cumulative):
        # max(): a histogram scraped mid-update may be off by one; never go negative.
        out[bound] = max(cumulative[bound] - below, 0.0)
        below = max(cumulative[bound], below)
    return out


def cumulative(buckets: Mapping[float, float]) -> list[tuple[float, float]]:
    """Per-bucket counts -> sorted (upper bound, observations at or below it)."""
    out, running = [], 0.0
    for bound in sorted(buckets):
        running += buckets[bound]
        out.append((bound, running))
    return out


def _add(a: Mapping[K, float], b: Mapping[K, float]) -> dict[K, float]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0.0) + value
    return out


def _sub(curr: Mapping[K, float], prev: Mapping[K, float]) -> dict[K, float]:
    return {key: value - prev.get(key, 0.0) for key, value in curr.items()}


def _sparse(values: Mapping[K, float], key: Any) -> dict[str, float | int]:
    return {key(k): int(v) if float(v).is_integer() else v for k, v in values.items() if v}
