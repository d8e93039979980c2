"""What can go wrong while serving, and whose fault it is.

    ServingError
    ├── ModelLoadError       the bundle cannot be served (missing, tampered, version skew):
    │                        the process exits non-zero with one line naming the cause
    ├── RequestError         the client's fault: a 4xx with a JSON body saying what and where
    │   ├── MalformedRequest     400  not JSON, or not the protocol's shape
    │   ├── InvalidInput         400  does not fit the feature schema (row/column named)
    │   ├── ModelNotFound        404  no model of that name here
    │   ├── UnknownRequestId     404  feedback for a request id this pod has not served
    │   ├── LabelConflict        409  feedback for a request id that already has a label
    │   ├── InvalidLabel         422  feedback whose label the model cannot have predicted
    │   └── PayloadTooLarge      413  body over --max-body-bytes, rows over --max-batch-rows
    ├── ModelNotReady        503  not loaded yet, or draining after SIGTERM (retry elsewhere)
    ├── Overloaded           503  the batch queue is full (Retry-After says when to retry)
    └── PredictionFailed     500  the model raised on input that passed validation

`error_handlers.register_error_handlers(app)` is the one place these become HTTP responses.
This module imports no web framework, so the model and protocol layers can raise these.

A body carries only `message`, which modelpilot writes itself: never an exception's text,
a file path or a traceback (they may describe the server's internals). What a person needs
to debug goes to `detail`, which is logged and never sent.
"""

from __future__ import annotations

from typing import Any


class ServingError(Exception):
    status_code = 500
    error_type = "internal_error"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # logged, never in a response body

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "type": self.error_type}

    def headers(self) -> list[tuple[bytes, bytes]]:
        """Extra response headers (lower-case names)."""
        return []


class ModelLoadError(ServingError):
    error_type = "model_load_error"


class RequestError(ServingError):
    status_code = 400
    error_type = "bad_request"


class MalformedRequest(RequestError):
    error_type = "malformed_request"


class InvalidInput(RequestError):
    """Carries the position of the first offending value so a client can find it."""

    error_type = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        row: int | None = None,
        column: int | None = None,
        feature: str | None = None,
    ) -> None:
        super().__init__(message)
        self.row = row
        self.column = column
        self.feature = feature

    def body(self) -> dict[str, Any]:
        out = super().body()
        if self.row is not None:
            out["row"] = self.row
        if self.column is not None:
            out["column"] = self.column
        if self.feature is not None:
            out["feature"] = self.feature
        return out


class ModelNotFound(RequestError):
    status_code = 404
    error_type = "model_not_found"


class UnknownRequestId(RequestError):
    """Feedback names request ids this pod has not served recently (another pod served
    them, or they left the bounded memory of recent predictions)."""

    status_code = 404
    error_type = "unknown_request_id"

    def __init__(self, message: str, *, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids

    def body(self) -> dict[str, Any]:
        return {**super().body(), "ids": self.ids}


class LabelConflict(RequestError):
    status_code = 409
    error_type = "label_conflict"


class InvalidLabel(RequestError):
    status_code = 422
    error_type = "invalid_label"

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index

    def body(self) -> dict[str, Any]:
        return {**super().body(), "index": self.index}


class PayloadTooLarge(RequestError):
    status_code = 413
    error_type = "payload_too_large"


class ModelNotReady(ServingError):
    status_code = 503
    error_type = "model_not_ready"


class Overloaded(ServingError):
    """More requests wait for the model than --max-queued-requests: shed load, never queue
    without bound (memory) nor make every waiting client time out."""

    status_code = 503
    error_type = "overloaded"
    retry_after_seconds = 1

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"retry-after", str(self.retry_after_seconds).encode())]


class PredictionFailed(ServingError):
    status_code = 500
    error_type = "prediction_failed"
