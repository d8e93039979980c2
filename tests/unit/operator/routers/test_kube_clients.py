"""The real clients' error translation, against a stand-in API object (no cluster)."""

import pytest
from kubernetes.client.exceptions import ApiException

from modelpilot.operator.routers import RouteConflict, RouteNotFound, RouterSpecError
from modelpilot.operator.routers.clients import ObjectRef
from modelpilot.operator.routers.kube import KubeCustomObjects, KubeDeployments

REF = ObjectRef(group="g.io", version="v1", plural="things", namespace="ml", name="iris")


class FailingApi:
    """Answers every call with one API error, as the kubernetes client raises it."""

    def __init__(self, status: int) -> None:
        self.status = status

    def __getattr__(self, name):
        def call(*args, **kwargs):
            raise ApiException(status=self.status, reason="Nope")

        return call


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(404, RouteNotFound, id="404-not-found"),
        pytest.param(409, RouteConflict, id="409-conflict"),
        pytest.param(422, RouterSpecError, id="422-refused"),
        pytest.param(503, ApiException, id="503-propagates-unchanged"),
    ],
)
def test_api_errors_are_translated_once(status, error):
    with pytest.raises(error) as raised:
        KubeCustomObjects(FailingApi(status)).replace(REF, {})
    if error is not ApiException:
        assert isinstance(raised.value.__cause__, ApiException)
    with pytest.raises(error):
        KubeDeployments(FailingApi(status)).scale("ml", "iris-v1", 2)


class RecordingCustomObjectsApi:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def get_namespaced_custom_object(self, *args):
        self.calls.append(("get", *args))
        return {"metadata": {"resourceVersion": "7"}}

    def replace_namespaced_custom_object(self, *args):
        self.calls.append(("replace", *args))
        return args[-1]


def test_custom_objects_pass_group_version_namespace_plural_name_in_that_order():
    api = RecordingCustomObjectsApi()
    objects = KubeCustomObjects(api)
    body = objects.get(REF)
    objects.replace(REF, body)
    assert api.calls == [
        ("get", "g.io", "v1", "ml", "things", "iris"),
        ("replace", "g.io", "v1", "ml", "things", "iris", {"metadata": {"resourceVersion": "7"}}),
    ]
