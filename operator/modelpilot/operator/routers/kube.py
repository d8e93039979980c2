"""The client Protocols on the real kubernetes client (CustomObjectsApi, AppsV1Api).

The only router module that imports kubernetes. API errors are translated once, here:
404 → RouteNotFound, 409 → RouteConflict, 400/422 (the object was refused, e.g. by Istio's
validation) → RouterSpecError; anything else propagates unchanged for the shell to retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes.client import AppsV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from modelpilot.operator.routers.clients import DeploymentReplicas, ObjectRef
from modelpilot.operator.routers.errors import (
    RouteConflict,
    RouteNotFound,
    RouterError,
    RouterSpecError,
)


def translate(error: ApiException, what: str) -> RouterError | None:
    """The router error for an API error about `what`; None when it has none."""
    reason = f"{what}: {error.status} {error.reason}"
    if error.status == 404:
        return RouteNotFound(f"{what} not found")
    if error.status == 409:
        return RouteConflict(reason)
    if error.status in (400, 422):
        return RouterSpecError(f"{reason}: {error.body}")
    return None


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except ApiException as error:
        routed = translate(error, what)
        if routed is None:
            raise
        raise routed from error


class KubeCustomObjects:
    def __init__(self, api: CustomObjectsApi) -> None:
        self._api = api

    def get(self, ref: ObjectRef) -> dict[str, Any]:
        with _translated(str(ref)):
            return self._api.get_namespaced_custom_object(
                ref.group, ref.version, ref.namespace, ref.plural, ref.name
            )

    def replace(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        # body carries the metadata.resourceVersion we read: a PUT with a stale one is a 409.
        with _translated(str(ref)):
            return self._api.replace_namespaced_custom_object(
                ref.group, ref.version, ref.namespace, ref.plural, ref.name, body
            )


class KubeDeployments:
    def __init__(self, api: AppsV1Api) -> None:
        self._api = api

    def get_replicas(self, namespace: str, name: str) -> DeploymentReplicas:
        with _translated(f"Deployment {namespace}/{name}"):
            deployment = self._api.read_namespaced_deployment(name, namespace)
        desired = deployment.spec.replicas
        return DeploymentReplicas(
            desired=1 if desired is None else desired,  # the API's default
            ready=(deployment.status.ready_replicas if deployment.status else None) or 0,
        )

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        with _translated(f"Deployment {namespace}/{name}"):
            self._api.patch_namespaced_deployment_scale(
                name,
                namespace,
                {"spec": {"replicas": replicas}},
                _content_type="application/merge-patch+json",
            )
