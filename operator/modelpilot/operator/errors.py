"""The operator's exceptions, and the one place other errors become them.

    OperatorError
    ├── ApiError            retryable: the apiserver answered with an error (status kept)
    │   ├── NotFound        404: the object is gone
    │   └── Conflict        409: a stale resourceVersion — retry the tick soon
    │       └── AlreadyExists   409 on create: create-if-absent treats it as done
    ├── PermanentError      never clears by retrying: a person must act; carries the Stalled
    │                       reason (NotOwned, RouterSpecInvalid, MetricsSpecInvalid)
    └── (SettingsError lives in settings: the operator refuses to start)

Translation happens here and nowhere else: `from_http` turns an apiserver answer into an
ApiError (modelpilot.operator.cluster calls it), `from_component` turns a traffic router's or
a metrics source's error into a retryable ApiError or a PermanentError by its `retryable`
flag. (modelpilot.operator.route_clients translates the other way, operator errors into the
routers' own tree, because routers depend only on their client Protocols.)

What becomes of them: the work queue (modelpilot.operator.workqueue) retries ApiError with
exponential back-off and jitter; the tick (modelpilot.operator.reconcile) turns a
PermanentError into Stalled=True with its reason and does not retry it faster than the resync.
A spec problem that plan() can see is never an exception: it becomes a condition directly.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from modelpilot.operator.analysis.errors import MetricsError
from modelpilot.operator.routers.errors import RouterError

# Stalled reasons of the permanent errors.
NOT_OWNED = "NotOwned"  # an object of the name we need exists and someone else owns it
ROUTER_SPEC_INVALID = "RouterSpecInvalid"  # the route cannot work as written
METRICS_SPEC_INVALID = "MetricsSpecInvalid"  # the metrics query cannot work as written


class OperatorError(Exception):
    pass


class ApiError(OperatorError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class AlreadyExists(Conflict):
    pass


class PermanentError(OperatorError):
    """Retrying cannot help; `reason` is the Stalled condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def from_http(status: int | None, body: Any, what: str) -> ApiError:
    """The ApiError for an apiserver answer with HTTP `status` and `body` about `what`."""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    message = str(body)
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        message = json.loads(body).get("message", message)
    error = {404: NotFound, 409: Conflict}.get(status or 0, ApiError)
    if status == 409 and "already exists" in message:
        error = AlreadyExists
    return error(f"{what}: {status} {message}", status=status)


def from_component(error: RouterError | MetricsError, what: str) -> OperatorError:
    """A router's or metrics source's error: retryable ones retry, the others stall."""
    message = f"{what}: {error}"
    if error.retryable:
        return ApiError(message)
    reason = ROUTER_SPEC_INVALID if isinstance(error, RouterError) else METRICS_SPEC_INVALID
    return PermanentError(reason, message)
