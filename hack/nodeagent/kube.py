"""A minimal JSON client for the Kubernetes API over urllib3.

The agent works on plain dicts in the API's own camelCase (the shape the pure modules and their
tests use), needs merge-patch on status subresources and raw watch streams; a thin client over
urllib3 does that with less surprise than the generated client's model classes.
"""

from __future__ import annotations

import base64
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import urllib3
import yaml

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A non-2xx answer; `status` is the HTTP code, `body` the decoded Status object."""

    def __init__(self, status: int, body: dict | str, method: str, path: str):
        message = body.get("message", "") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.body = body


class Kube:
    def __init__(self, kubeconfig: Path):
        cfg = yaml.safe_load(Path(kubeconfig).read_text())
        ctx_name = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        self.server = cluster["server"].rstrip("/")
        self._tmp = tempfile.TemporaryDirectory(prefix="nodeagent-kube-")

        def path_of(entry: dict, key: str) -> str:
            if key + "-data" in entry:
                out = Path(self._tmp.name) / key
                out.write_bytes(base64.b64decode(entry[key + "-data"]))
                return str(out)
            return entry[key]

        self.pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=32,
            block=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=path_of(cluster, "certificate-authority"),
            cert_file=path_of(user, "client-certificate"),
            key_file=path_of(user, "client-key"),
            retries=False,
        )

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        params: dict | None = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> dict:
        url = self.server + path + ("?" + urlencode(params) if params else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        resp = self.pool.request(
            method,
            url,
            body=data,
            headers=headers,
            timeout=urllib3.Timeout(connect=5, read=timeout),
        )
        try:
            decoded = json.loads(resp.data) if resp.data else {}
        except ValueError:
            decoded = resp.data.decode(errors="replace")
        if resp.status >= 300:
            raise ApiError(resp.status, decoded, method, path)
        return decoded

    def get(self, path: str, **params) -> dict:
        return self.request("GET", path, params=params or None)

    def create(self, path: str, body: dict) -> dict:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: dict) -> dict:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def delete(self, path: str, body: dict | None = None) -> dict:
        return self.request("DELETE", path, body)

    def watch(
        self,
        path: str,
        *,
        resource_version: str,
        params: dict | None = None,
        timeout_seconds: int = 300,
    ) -> Iterator[dict]:
        """Yield watch events until the server ends the stream."""
        query = {
            **(params or {}),
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        resp = self.pool.request(
            "GET",
            f"{self.server}{path}?{urlencode(query)}",
            preload_content=False,
            headers={"Accept": "application/json"},
            timeout=urllib3.Timeout(connect=5, read=timeout_seconds + 30),
        )
        try:
            if resp.status >= 300:
                raise ApiError(resp.status, resp.read().decode(errors="replace"), "WATCH", path)
            buf = b""
            for chunk in resp.stream(65536, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release_conn()

    def list_watch(
        self,
        path: str,
        on_event: Callable[[str, dict], None],
        *,
        params: dict | None = None,
        stop: Callable[[], bool] = lambda: False,
        on_sync: Callable[[list[dict]], None] | None = None,
    ) -> None:
        """List then watch `path` forever, re-listing when the watch expires (410 Gone).

        `on_sync` gets the full list after each (re)list; `on_event` gets every change.
        """
        while not stop():
            try:
                listing = self.get(path, **(params or {}))
                if on_sync:
                    on_sync(listing.get("items", []))
                rv = listing["metadata"]["resourceVersion"]
                while not stop():
                    for event in self.watch(path, resource_version=rv, params=params):
                        kind, obj = event["type"], event["object"]
                        if kind == "ERROR":
                            raise ApiError(obj.get("code", 500), obj, "WATCH", path)
                        rv = obj["metadata"]["resourceVersion"]
                        if kind != "BOOKMARK":
                            on_event(kind, obj)
                        if stop():
                            return
            except Exception as err:
                if not (isinstance(err, ApiError) and err.status == 410):
                    log.warning("list/watch %s failed: %s; retrying", path, err)
                    time.sleep(1)


def pod_path(namespace: str, name: str, sub: str = "") -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}" + (f"/{sub}" if sub else "")


class Informer:
    """A list/watch cache of one resource: `items()` is the current set, `changed` is set on
    every change (the watchers of the services and volumes wait on it instead of polling)."""

    def __init__(self, kube: Kube, path: str, changed: threading.Event, params: dict | None = None):
        self.kube, self.path, self.params, self.changed = kube, path, params, changed
        self._items: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.synced = threading.Event()

    def items(self) -> list[dict]:
        with self._lock:
            return list(self._items.values())

    def _on_sync(self, items: list[dict]) -> None:
        with self._lock:
            self._items = {o["metadata"]["uid"]: o for o in items}
        self.synced.set()
        self.changed.set()

    def _on_event(self, kind: str, obj: dict) -> None:
        with self._lock:
            if kind == "DELETED":
                self._items.pop(obj["metadata"]["uid"], None)
            else:
                self._items[obj["metadata"]["uid"]] = obj
        self.changed.set()

    def start(self, stop: threading.Event) -> Informer:
        threading.Thread(
            target=self.kube.list_watch,
            args=(self.path, self._on_event),
            kwargs={"params": self.params, "stop": stop.is_set, "on_sync": self._on_sync},
            name=f"informer{self.path}",
            daemon=True,
        ).start()
        return self
