"""Ground truth: labels fed back by request id, joined with the prediction this pod made.

`POST /v2/models/NAME/feedback` takes `[{"id": ..., "label": ...}, ...]`: a label for a
request of one row, or a list with one label per row. The pod keeps its most recent
predictions by request id (bounded: `RecentPredictions`) and joins each label with the
prediction it answered; the pair goes into the feedback counters on /metrics (a confusion
matrix for a classifier, sums of errors for a regressor: modelpilot.api.feedback), which
the operator reads to compute the live metric, and, with prediction logging on, into the
labels files the trainer joins with the logged requests.

A batch is all or nothing: it is checked whole before anything counts, so a client can
correct it and send it again. An id this pod does not know is a 404 naming the ids (another
pod served it, or it is older than the memory holds); an id that already has a label a 409
(counters only go up, so a label cannot be taken back); a label the model could not have
predicted (not one of its classes; not a finite number for a regressor) a 422 naming its
index.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from .errors import InvalidLabel, LabelConflict, MalformedRequest, UnknownRequestId

MAX_ITEMS = 10_000  # labels in one request
_SHOWN_IDS = 10  # unknown ids named in a 404


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    request_id: str
    labels: tuple[Any, ...]  # one per row of the request


@dataclass(frozen=True, slots=True)
class Joined:
    request_id: str
    labels: tuple[Any, ...]
    predictions: tuple[Any, ...]


def parse_feedback(body: bytes, *, task: str, classes: Sequence[Any] | None) -> list[FeedbackItem]:
    """The labels of a feedback request, each checked against what the model predicts."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedRequest('feedback must be JSON: [{"id": ..., "label": ...}]') from None
    if not isinstance(payload, list) or not payload:
        raise MalformedRequest('feedback must be a non-empty JSON list of {"id", "label"} objects')
    if len(payload) > MAX_ITEMS:
        raise MalformedRequest(f"feedback has {len(payload)} labels; at most {MAX_ITEMS} a request")
    known = None if classes is None else {_key(c): c for c in classes}
    items = []
    seen: set[str] = set()
    for index, entry in enumerate(payload):
        if not isinstance(entry, dict) or set(entry) != {"id", "label"}:
            raise InvalidLabel(
                f'feedback[{index}] must be an object with exactly "id" and "label"', index=index
            )
        request_id = entry["id"]
        if not isinstance(request_id, str) or not request_id:
            raise InvalidLabel(f'feedback[{index}]: "id" must be a non-empty string', index=index)
        if request_id in seen:
            raise InvalidLabel(
                f"feedback[{index}]: request id {request_id!r} appears twice", index=index
            )
        seen.add(request_id)
        raw = entry["label"]
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise InvalidLabel(f'feedback[{index}]: "label" is an empty list', index=index)
        labels = tuple(_checked(v, index=index, task=task, known=known) for v in values)
        items.append(FeedbackItem(request_id=request_id, labels=labels))
    return items


def _key(value: Any) -> tuple[str, Any]:
    # True == 1 in Python; a class 1 must not be matched by the label true.
    return (type(value).__name__ if isinstance(value, bool | str) else "number", value)


def _checked(value: Any, *, index: int, task: str, known: dict[tuple[str, Any], Any] | None) -> Any:
    if task == "classification":
        assert known is not None
        if isinstance(value, int | float | str | bool) and _key(value) in known:
            return known[_key(value)]
        shown = ", ".join(repr(c) for c in list(known.values())[:20])
        raise InvalidLabel(
            f"feedback[{index}]: label {value!r:.40} is not a class of this model ({shown})",
            index=index,
        )
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidLabel(
            f"feedback[{index}]: label {value!r:.40} is not a finite number (the model is a "
            "regressor)",
            index=index,
        )
    return float(value)


class RecentPredictions:
    """The newest `capacity` requests' predictions by request id, and which have a label."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._predictions: OrderedDict[str, np.ndarray] = OrderedDict()
        self._labelled: set[str] = set()

    def remember(self, request_id: str, predictions: np.ndarray) -> None:
        with self._lock:
            store = self._predictions
            if request_id in store:
                # A reused id: the newest prediction is what a label will answer.
                self._labelled.discard(request_id)
                del store[request_id]
            store[request_id] = predictions
            while len(store) > self.capacity:
                old, _ = store.popitem(last=False)
                self._labelled.discard(old)

    def join(self, items: Sequence[FeedbackItem]) -> list[Joined]:
        """Every item joined with its prediction, or an error and nothing marked."""
        with self._lock:
            unknown = [i.request_id for i in items if i.request_id not in self._predictions]
            if unknown:
                shown = ", ".join(repr(u) for u in unknown[:_SHOWN_IDS])
                more = f" and {len(unknown) - _SHOWN_IDS} more" if len(unknown) > _SHOWN_IDS else ""
                raise UnknownRequestId(
                    f"{len(unknown)} request id(s) this pod has not served recently: {shown}{more} "
                    f"(it keeps the last {self.capacity} requests; with several replicas, a label "
                    "must reach the pod that served the request)",
                    ids=unknown[:_SHOWN_IDS],
                )
            joined = []
            for index, item in enumerate(items):
                if item.request_id in self._labelled:
                    raise LabelConflict(
                        f"feedback[{index}]: request id {item.request_id!r} already has a label"
                    )
                predictions = np.asarray(self._predictions[item.request_id]).reshape(-1).tolist()
                if len(item.labels) != len(predictions):
                    raise InvalidLabel(
                        f"feedback[{index}]: request {item.request_id!r} had "
                        f"{len(predictions)} row(s); give one label, or a list of "
                        f"{len(predictions)}",
                        index=index,
                    )
                joined.append(Joined(item.request_id, item.labels, tuple(predictions)))
            self._labelled.update(i.request_id for i in items)
        return joined
