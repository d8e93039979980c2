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
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from modelpilot.api import names
from modelpilot.operator.errors import ApiError, NotFound, from_http

# kind -> (API prefix, plural). Every kind the operator owns or reads.
KINDS: dict[str, tuple[str, str]] = {
    "Job": ("/apis/batch/v1", "jobs"),
    "Pod": ("/api/v1", "pods"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "ReplicaSet": ("/apis/apps/v1", "replicasets"),  # read: which pods a Deployment owns
    "Service": ("/api/v1", "services"),
    "Event": ("/api/v1", "events"),
    # Read only: whether a claim a ModelDeployment names is labelled as a model store.
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims"),
    names.KIND: (f"/apis/{names.GROUP}/{names.VERSION}", names.PLURAL),
    # The route objects the gatewayAPI and istio traffic routers weight (read and replaced,
    # never created: they belong to the person who wrote them).
    "HTTPRoute": ("/apis/gateway.networking.k8s.io/v1", "httproutes"),
    "VirtualService": ("/apis/networking.istio.io/v1", "virtualservices"),
    # The leader's Lease (modelpilot.operator.leader).
    "Lease": ("/apis/coordination.k8s.io/v1", "leases"),
    "HorizontalPodAutoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
    "Node": ("/api/v1", "nodes"),  # cluster-scoped: read once, to size the training cap
}
# For the API request metric: the kind a path names (a bounded label; "other" otherwise).
_KIND_OF_PLURAL = {plural: kind for kind, (_, plural) in KINDS.items()}
# Told about every API request: method, kind, whether a name was in the path, HTTP code
# (0 when no response came).
RequestObserver = Callable[[str, str, bool, int], None]
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


DEFAULT_TRAININGS = 4  # when the nodes cannot be read


def cluster_cores(cluster: KubernetesCluster) -> int:
    """The nodes' allocatable CPU, in whole cores (at least 1): the default training cap."""
    try:
        nodes = cluster.request("GET", "/api/v1/nodes").get("items", [])
    except ApiError:
        return DEFAULT_TRAININGS
    millis = sum(_cpu_millis(n.get("status", {}).get("allocatable", {}).get("cpu")) for n in nodes)
    return max(1, millis // 1000) if nodes else DEFAULT_TRAININGS


_DECIMAL = {"m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def _cpu_millis(quantity: str | None) -> int:
    """A CPU quantity in millicores: "1500m", "2", "0.5", "1k" (the apiserver writes 1000
    cores so). Anything else counts 0 rather than stopping the operator."""
    text = (quantity or "").strip()
    suffix = text[-1:] if text[-1:] in _DECIMAL and text[-1:] else ""
    try:
        return int(float(text[: len(text) - len(suffix)]) * _DECIMAL[suffix] * 1000)
    except ValueError:
        return 0


def selector_string(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def load_client_configuration() -> Any:
    """In a pod: the ServiceAccount. Elsewhere: KUBECONFIG or ~/.kube/config."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    # One connection per tick thread (handlers.TICK_WORKERS) and a few for the rest.
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


class KubernetesCluster:
    """`Cluster` over the kubernetes client's authenticated transport."""

    def __init__(
        self,
        api_client: Any | None = None,
        *,
        timeout: float = 30.0,
        observe: RequestObserver | None = None,
    ) -> None:
        self._api = api_client if api_client is not None else load_client_configuration()
        self._timeout = timeout
        self._observe = observe

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
        code = 200  # any 2xx counts as 200
        try:
            return self._request(method, path, query=query, body=body, content_type=content_type)
        except ApiError as exc:
            code = exc.status or 0
            raise
        except Exception:
            code = 0  # no answer: a timeout or a refused connection
            raise
        finally:
            if self._observe is not None:
                kind, named = _kind_of(path)
                self._observe(method, kind, named, code)

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None,
        body: Any,
        content_type: str,
    ) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

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
        except HTTPError as exc:  # no answer in time, connection refused: retryable
            raise ApiError(f"{method} {path}: no answer: {exc}") from exc
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


def _kind_of(path: str) -> tuple[str, bool]:
    """(kind, whether the path names one object) of an API path, e.g.
    /apis/batch/v1/namespaces/ml/jobs/x -> ("Job", True); /status is the object's."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts and parts[-1] == "status":
        parts = parts[:-1]
    for i in range(len(parts) - 1, -1, -1):
        kind = _KIND_OF_PLURAL.get(parts[i])
        if kind is not None and (i == 0 or parts[i - 1] != "namespaces"):
            return kind, i < len(parts) - 1
    return "other", False
