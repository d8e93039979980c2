"""The cluster as the operator and the CLI see it: a few verbs on plain JSON objects.

`Cluster` is the Protocol that `observe`, `apply` and `reconcile` depend on; tests pass the
in-memory fake from tests/unit/operator/operator_fakes.py. `KubernetesCluster` implements it
over the official client's transport (auth, TLS, kubeconfig/in-cluster resolution) but speaks raw
JSON paths, so objects stay the dicts the apiserver returns and no typed-model round trip
can drop a field.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from modelpilot.api import names
from modelpilot.operator.errors import NotFound, from_http

# kind -> (API prefix, plural). Every kind the operator owns or reads.
KINDS: dict[str, tuple[str, str]] = {
    "Job": ("/apis/batch/v1", "jobs"),
    "Pod": ("/api/v1", "pods"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "ReplicaSet": ("/apis/apps/v1", "replicasets"),  # read: which pods a Deployment owns
    "Service": ("/api/v1", "services"),
    "Event": ("/api/v1", "events"),
    names.KIND: (f"/apis/{names.GROUP}/{names.VERSION}", names.PLURAL),
    # The route objects the gatewayAPI and istio traffic routers weight (read and replaced,
    # never created: they belong to the person who wrote them).
    "HTTPRoute": ("/apis/gateway.networking.k8s.io/v1", "httproutes"),
    "VirtualService": ("/apis/networking.istio.io/v1", "virtualservices"),
}
MERGE_PATCH = "application/merge-patch+json"
EVENT_MESSAGE_LIMIT = 1024


class Cluster(Protocol):
    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...

    def list(
        self, kind: str, namespace: str, selector: Mapping[str, str]
    ) -> list[dict[str, Any]]: ...

    def create(self, kind: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Raises AlreadyExists."""
        ...

    def patch(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """JSON merge patch; raises NotFound."""
        ...

    def replace(
        self, kind: str, namespace: str, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """PUT the whole object; raises Conflict when its resourceVersion is stale."""
        ...

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Background propagation; a missing object is not an error."""
        ...

    def replace_status(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the ModelDeployment's status subresource; raises Conflict on a stale
        resourceVersion, NotFound when it is gone."""
        ...


def post_event(
    cluster: Cluster,
    involved: Mapping[str, Any],
    *,
    type_: str,
    reason: str,
    message: str,
    now: datetime | None = None,
) -> None:
    """A core/v1 Event on the ModelDeployment, as `kubectl describe` shows them."""
    meta = involved["metadata"]
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.create(
        "Event",
        meta["namespace"],
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": names.API_VERSION,
                "kind": names.KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": type_,
            "reason": reason,
            "message": message[:EVENT_MESSAGE_LIMIT],
            "source": {"component": "modelpilot-operator"},
            "reportingComponent": "modelpilot.dev/operator",
            "reportingInstance": socket.gethostname()[:128],
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        },
    )


def selector_string(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def load_client_configuration() -> Any:
    """In a pod: the ServiceAccount. Elsewhere: KUBECONFIG or ~/.kube/config."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


class KubernetesCluster:
    """`Cluster` over the kubernetes client's authenticated transport."""

    def __init__(self, api_client: Any | None = None, *, timeout: float = 30.0) -> None:
        self._api = api_client if api_client is not None else load_client_configuration()
        self._timeout = timeout

    def _path(self, kind: str, namespace: str, name: str | None = None) -> str:
        prefix, plural = KINDS[kind]
        path = f"{prefix}/namespaces/{quote(namespace)}/{plural}"
        return path if name is None else f"{path}/{quote(name)}"

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        if query:
            path = f"{path}?{urlencode(query)}"
        headers = {"Accept": "application/json", "Content-Type": content_type}
        serialized = self._api.param_serialize(
            method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        try:
            response = self._api.call_api(*serialized, _request_timeout=self._timeout)
            data = response.read()
        except ApiException as exc:
            raise from_http(exc.status, exc.body, f"{method} {path}") from exc
        if not 200 <= response.status <= 299:
            raise from_http(response.status, data, f"{method} {path}")
        return json.loads(data) if data else {}

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", self._path(kind, namespace, name))
        except NotFound:
            return None

    def list(self, kind: str, namespace: str, selector: Mapping[str, str]) -> list[dict[str, Any]]:
        query = {"labelSelector": selector_string(selector)} if selector else None
        return list(self.request("GET", self._path(kind, namespace), query=query).get("items", []))

    def create(self, kind: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", self._path(kind, namespace), body=dict(body))

    def patch(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self.request(
            "PATCH", self._path(kind, namespace, name), body=dict(patch), content_type=MERGE_PATCH
        )

    def replace(
        self, kind: str, namespace: str, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self.request("PUT", self._path(kind, namespace, name), body=dict(body))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.request(
                "DELETE",
                self._path(kind, namespace, name),
                body={"propagationPolicy": "Background"},
            )

    def replace_status(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        path = self._path(names.KIND, namespace, name) + "/status"
        return self.request("PUT", path, body=dict(body))
