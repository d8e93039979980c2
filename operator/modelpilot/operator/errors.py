"""The operator's exceptions, and the one place other errors become them.

    OperatorError
    ├── ApiError            retryable: the apiserver answered with an error (status kept)
    │   ├── NotFound        404: the object is gone
    │   └── Conflict        409: a stale resourceVersion — retry the tick soon
    │       └── AlreadyExists   409 with reason AlreadyExists (a create): create-if-absent
    │                           treats it as done
    ├── PermanentError      never clears by retrying: a person must act; carries the Stalled
    │                       reason (NotOwned, RouterSpecInvalid, MetricsSpecInvalid)
    └── (SettingsError lives in settings: the operator refuses to start)

Translation happens here and nowhere else: `from_http` turns an apiserver answer into an
ApiError by its HTTP code and its metav1.Status `reason`, never by the words of its message
(modelpilot.operator.cluster calls it), `from_component` turns a traffic router's or
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

from modelpilot.api.reasons import ConditionReason
from modelpilot.operator.analysis.errors import MetricsError
from modelpilot.operator.routers.errors import RouterError

# metav1.Status `reason` of a create whose object exists (k8s.io/apimachinery StatusReason).
STATUS_REASON_ALREADY_EXISTS = "AlreadyExists"


class OperatorError(Exception):
    pass


class ApiError(OperatorError):
    def __init__(
        self, message: str, *, status: int | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason  # the metav1.Status reason (NotFound, AlreadyExists, ...)


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class AlreadyExists(Conflict):
    pass


class PermanentError(OperatorError):
    """Retrying cannot help; `reason` is the Stalled condition's reason (NotOwned,
    RouterSpecInvalid, MetricsSpecInvalid)."""

    def __init__(self, reason: ConditionReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def from_http(status: int | None, body: Any, what: str) -> ApiError:
    """The ApiError for an apiserver answer with HTTP `status` and `body` about `what`.

    The class follows the code (404, 409) and, for a 409, the metav1.Status `reason` in the
    body: AlreadyExists is a create that found its object, any other 409 a stale write.
    """
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    message = str(body)
    reason = None
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        answer = json.loads(body)
        message = answer.get("message", message)
        reason = answer.get("reason")
    error = {404: NotFound, 409: Conflict}.get(status or 0, ApiError)
    if status == 409 and reason == STATUS_REASON_ALREADY_EXISTS:
        error = AlreadyExists
    return error(f"{what}: {status} {message}", status=status, reason=reason)


def from_component(error: RouterError | MetricsError, what: str) -> OperatorError:
    """A router's or metrics source's error: retryable ones retry, the others stall."""
    message = f"{what}: {error}"
    if error.retryable:
        return ApiError(message)
    reason = (
        ConditionReason.ROUTER_SPEC_INVALID
        if isinstance(error, RouterError)
        else ConditionReason.METRICS_SPEC_INVALID
    )
    return PermanentError(reason, message)
