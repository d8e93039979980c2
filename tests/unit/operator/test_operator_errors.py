"""errors.from_http: an apiserver answer is classified by its HTTP code and its
metav1.Status `reason`, never by the words of its message.

Each answer is a real kubernetes ApiException made from a real urllib3 response whose body
is the JSON a kube-apiserver sends.
"""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3 import HTTPResponse

from modelpilot.api.reasons import ConditionReason
from modelpilot.operator.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    NotFound,
    PermanentError,
    from_component,
    from_http,
)
from modelpilot.operator.routers.errors import RouterSpecError


def answer(code: int, reason: str | None, message: str) -> ApiException:
    """The ApiException the kubernetes client raises for a Status answer."""
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    status |= {"message": message} | ({"reason": reason} if reason else {})
    response = HTTPResponse(
        body=json.dumps(status).encode(),
        status=code,
        reason=reason or "Error",
        headers={"Content-Type": "application/json"},
        preload_content=True,
    )
    return ApiException(http_resp=response)


def classify(exc: ApiException) -> ApiError:
    return from_http(exc.status, exc.body, "POST /apis/apps/v1/namespaces/ml/deployments")


# id: (HTTP code, metav1.Status reason, message, the error it becomes)
ANSWERS = {
    "create-found-its-object": (
        409,
        "AlreadyExists",
        'deployments.apps "iris-v1" already exists',
        AlreadyExists,
    ),
    # The apiserver's words may differ (another language, another wording): the reason
    # still says what happened.
    "already-exists-in-other-words": (
        409,
        "AlreadyExists",
        'deployments.apps "iris-v1" existiert bereits',
        AlreadyExists,
    ),
    "stale-resource-version": (
        409,
        "Conflict",
        'Operation cannot be fulfilled on deployments.apps "iris-v1": the object has been '
        "modified; please apply your changes to the latest version",
        Conflict,
    ),
    # A stale write whose message happens to say "already exists" is still a conflict:
    # treating it as a finished create would drop the write.
    "conflict-that-says-already-exists": (
        409,
        "Conflict",
        "the finalizer already exists on a newer version",
        Conflict,
    ),
    "gone": (404, "NotFound", 'deployments.apps "iris-v1" not found', NotFound),
    "invalid": (422, "Invalid", "spec.replicas: Invalid value", ApiError),
    "server-error": (500, None, "etcdserver: request timed out", ApiError),
}


@pytest.mark.parametrize(("code", "reason", "message", "kind"), ANSWERS.values(), ids=ANSWERS)
def test_an_api_error_is_classified_by_code_and_reason(code, reason, message, kind):
    exc = answer(code, reason, message)
    error = classify(exc)
    assert type(error) is kind
    assert (error.status, error.reason) == (code, reason)
    # The message keeps what the apiserver said, after what was asked.
    assert str(error) == f"POST /apis/apps/v1/namespaces/ml/deployments: {code} {message}"


def test_an_answer_that_is_not_json_keeps_its_text_and_its_code():
    error = from_http(503, b"<html>upstream connect error</html>", "GET /api/v1/pods")
    assert type(error) is ApiError
    assert (error.status, error.reason) == (503, None)
    assert str(error) == "GET /api/v1/pods: 503 <html>upstream connect error</html>"


def test_a_409_without_a_status_body_is_a_conflict_not_a_finished_create():
    assert type(from_http(409, b"already exists", "POST /x")) is Conflict


def test_a_component_error_that_cannot_clear_stalls_with_a_typed_reason():
    error = from_component(RouterSpecError("no such Gateway"), "traffic router gatewayAPI")
    assert isinstance(error, PermanentError)
    assert error.reason is ConditionReason.ROUTER_SPEC_INVALID
