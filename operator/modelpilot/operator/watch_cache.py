"""Owned objects read from a watch-fed cache, so a tick costs no API reads.

Each tick used to GET its ModelDeployment and LIST its Jobs, Pods, Deployments, Services
and HPAs: six requests per object per tick, ~600 a minute at rest for 500 objects from the
resync alone. The operator already watches these kinds (kopf); `WatchCache` keeps the
latest body of every object those watches deliver, and `CachedCluster` answers a tick's
`get` of a ModelDeployment and its `list`s from it. Writes go to the API server as before,
and what they return is written through, so a tick sees its own writes at once. A
ModelDeployment at rest (nothing to change) therefore costs no request at all.

Hazards, and what covers them:
- A cache is stale by a watch's latency. Every write the operator makes is safe against
  that already: creates are create-if-absent with deterministic names (a stale "no Job"
  meets AlreadyExists, never a second Job), status is written with the resourceVersion
  read (stale -> Conflict -> look again).
- An older event must not overwrite a newer body (e.g. a watch event after a write-through):
  bodies are replaced only by a resourceVersion at least as new. resourceVersions are opaque
  by contract, but the API server's are etcd revisions, integers; anything else is accepted.
- A DELETED event can be missed where a watch could not resume and kopf LISTed again (at
  its start, after 410 Gone): `relist` replaces a kind's contents with a fresh LIST, dropping
  objects it no longer has unless the cache saw them after that LIST. It runs at startup,
  before any tick, and again after kopf listed anything in a namespace (`RelistRequests`:
  every cached kind there), never on a timer: at rest no watch restarts, so the operator
  makes no request at all (a LIST of seven kinds in five namespaces every resync was seven
  requests a minute at rest). Residual hazard: kopf's listing of an empty kind delivers no
  event; a deletion missed there is repaired when any other kind of that namespace is
  listed again (an apiserver restart relists them all), not before.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from modelpilot.api import names
from modelpilot.operator.cluster import KINDS, Cluster, KubernetesCluster, selector_string

# What a tick reads: its ModelDeployment (get) and the owned kinds (list by labels).
CACHED_KINDS = (
    names.KIND,
    "Job",
    "Pod",
    "ReplicaSet",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
)


def _rv(body: Mapping[str, Any]) -> int | None:
    text = (body.get("metadata") or {}).get("resourceVersion") or ""
    return int(text) if text.isdigit() else None


def _newer_or_same(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    if old is None:
        return True
    new_rv, old_rv = _rv(new), _rv(old)
    return new_rv is None or old_rv is None or new_rv >= old_rv


class WatchCache:
    def __init__(self, kinds: Iterable[str] = CACHED_KINDS) -> None:
        self.kinds = frozenset(kinds)
        # Bucketed by (kind, namespace): a tick's list reads its own namespace's objects of
        # one kind, never every object of every kind (with 500 ModelDeployments, ~3,500
        # bodies scanned seven times per tick made a tick 4x dearer than at 50).
        self._buckets: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()  # fed in the event loop, read by ticks in threads

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())

    def observe(
        self, kind: str, event_type: str | None, body: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """A watch event (ADDED, MODIFIED, DELETED; None for an initial listing). Returns
        the body cached before (read it, never change it), None when there was none."""
        meta = body.get("metadata") or {}
        where, name = (kind, meta.get("namespace") or ""), meta.get("name") or ""
        with self._lock:
            if event_type == "DELETED":
                before = self._buckets.get(where, {}).get(name)
                self._drop(where, name)
                return before
            bucket = self._buckets.setdefault(where, {})
            before = bucket.get(name)
            if _newer_or_same(body, before):
                bucket[name] = copy.deepcopy(dict(body))
            return before

    def _drop(self, where: tuple[str, str], name: str) -> None:
        bucket = self._buckets.get(where)
        if bucket is not None:
            bucket.pop(name, None)
            if not bucket:
                del self._buckets[where]

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            self._drop((kind, namespace), name)

    def relist(
        self, kind: str, namespace: str | None, items: Iterable[Mapping[str, Any]], list_rv: str
    ) -> None:
        """Replace `kind` (in `namespace`, or everywhere) with a LIST's items."""
        # Copied before taking the lock: the event loop feeds the cache under the same lock,
        # and copying thousands of bodies while holding it stalled every watch and tick.
        fresh = {
            ((kind, (i.get("metadata") or {}).get("namespace") or ""), i["metadata"]["name"]): (
                copy.deepcopy(dict(i))
            )
            for i in items
        }
        cutoff = int(list_rv) if list_rv.isdigit() else None
        with self._lock:
            stale = [
                (where, name)
                for where, bucket in self._buckets.items()
                if where[0] == kind and namespace in (None, where[1])
                for name, body in bucket.items()
                if (where, name) not in fresh
                and (cutoff is None or _rv(body) is None or (_rv(body) or 0) <= cutoff)
            ]
            for where, name in stale:
                self._drop(where, name)  # gone since: its DELETED event was missed
            for (where, name), body in fresh.items():
                bucket = self._buckets.setdefault(where, {})
                if _newer_or_same(body, bucket.get(name)):
                    bucket[name] = body

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            body = self._buckets.get((kind, namespace), {}).get(name)
            return copy.deepcopy(body) if body is not None else None

    def list(self, kind: str, namespace: str, selector: Mapping[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            out = [
                copy.deepcopy(body)
                for body in self._buckets.get((kind, namespace), {}).values()
                if all(
                    ((body.get("metadata") or {}).get("labels") or {}).get(label) == value
                    for label, value in selector.items()
                )
            ]
        return sorted(out, key=lambda b: b["metadata"]["name"])


def _readiness(pod: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    status = (pod or {}).get("status") or {}
    ready = next(
        (c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"),
        None,
    )
    return status.get("phase"), ready


def readiness_changed(
    before: Mapping[str, Any] | None, event_type: str | None, pod: Mapping[str, Any]
) -> bool:
    """Whether a pod event changes what a tick judges by: its phase or Ready condition, or
    its going away. Hazard it covers: pods and Deployments come on separate watches; a
    Deployment's "1 ready" event can come before its pod's, and the tick it nudged then reads
    the pod as not ready yet from the cache. Without a nudge when the pod's own event comes,
    the ModelDeployment sat in Deploying until the resync (seen at N=500)."""
    if event_type == "DELETED":
        return before is not None
    return _readiness(before) != _readiness(pod)


def _finished(job: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def _pods_lag_their_jobs(pods: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> bool:
    """A finished Job none of whose cached pods has finished yet."""
    for job in jobs:
        if not _finished(job):
            continue
        name = job["metadata"]["name"]
        own = [
            p
            for p in pods
            if ((p.get("metadata") or {}).get("labels") or {}).get("job-name") == name
        ]
        if not any((p.get("status") or {}).get("phase") in ("Succeeded", "Failed") for p in own):
            return True
    return False


class CachedCluster:
    """`Cluster` whose reads of cached kinds come from the cache; writes go through."""

    def __init__(self, cluster: Cluster, cache: WatchCache) -> None:
        self._cluster = cluster
        self._cache = cache

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if kind == names.KIND and kind in self._cache.kinds:
            return self._cache.get(kind, namespace, name)
        return self._cluster.get(kind, namespace, name)

    def list(self, kind: str, namespace: str, selector: Mapping[str, str]) -> list[dict[str, Any]]:
        if kind not in self._cache.kinds:
            return self._cluster.list(kind, namespace, selector)
        cached = self._cache.list(kind, namespace, selector)
        if kind == "Pod" and _pods_lag_their_jobs(
            cached, self._cache.list("Job", namespace, selector)
        ):
            # Hazard: the Job's watch delivered "Complete" before the Pod's delivered its
            # termination message (two streams, no order between them). Judging the Job
            # from that pod would fail the revision for want of a summary, so read afresh.
            fresh = self._cluster.list(kind, namespace, selector)
            for pod in fresh:
                self._cache.observe(kind, "MODIFIED", pod)
            return fresh
        return cached

    def _through(self, kind: str, written: dict[str, Any]) -> dict[str, Any]:
        if kind in self._cache.kinds:
            self._cache.observe(kind, "MODIFIED", written)
        return written

    def create(self, kind: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._through(kind, self._cluster.create(kind, namespace, body))

    def patch(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._through(kind, self._cluster.patch(kind, namespace, name, patch))

    def replace(
        self, kind: str, namespace: str, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._through(kind, self._cluster.replace(kind, namespace, name, body))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self._cluster.delete(kind, namespace, name)
        # The DELETED event removes it; until then a tick may still see it (and deleting
        # again is a no-op).

    def replace_status(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._through(names.KIND, self._cluster.replace_status(namespace, name, body))


class RelistRequests:
    """When to relist a namespace because kopf listed something there again (events of type
    None), pure bookkeeping on a clock the caller passes.

    Once per listing, after it: a listing's objects arrive as a burst of events that can
    last minutes when the event loop is busy (5,000 objects after a restart at N=500), and a
    relist started after the first of them was asked for again and again by the rest: relists
    piled up, each LISTing every kind, and the restarted operator grew to 680 MiB without
    ticking. So the relist waits until no listing event has come for `quiet` seconds
    (a trailing debounce). None: cluster-wide."""

    def __init__(self, quiet: float) -> None:
        self.quiet = quiet
        self._last: dict[str | None, float] = {}  # namespaces with a check scheduled
        self._lock = threading.Lock()

    def listed(self, namespace: str | None, now: float) -> bool:
        """A listing event came. True when the caller must schedule `due` in `quiet`
        seconds (no check is scheduled for this namespace yet)."""
        with self._lock:
            new = namespace not in self._last
            self._last[namespace] = now
            return new

    def due(self, namespace: str | None, now: float) -> float | None:
        """The scheduled check: None when the burst is over (relist now; a later listing
        event starts anew), else the seconds until the next check."""
        with self._lock:
            last = self._last.get(namespace)
            if last is None or now - last >= self.quiet:
                self._last.pop(namespace, None)
                return None
            return self.quiet - (now - last)


def fill(
    cache: WatchCache,
    cluster: KubernetesCluster,
    *,
    namespaces: tuple[str, ...],
    owned: Mapping[str, str],
) -> int:
    """LIST every cached kind (in `namespaces`, or cluster-wide when empty) into the cache:
    before the first tick, and after kopf listed anything there again. Returns the objects
    listed."""
    listed = 0
    for kind in sorted(cache.kinds):
        prefix, plural = KINDS[kind]
        query = {} if kind == names.KIND else {"labelSelector": selector_string(owned)}
        for namespace in namespaces or (None,):
            path = (
                f"{prefix}/{plural}"
                if namespace is None
                else f"{prefix}/namespaces/{namespace}/{plural}"
            )
            answer = cluster.request("GET", path, query=query or None)
            items = answer.get("items") or []
            cache.relist(
                kind, namespace, items, (answer.get("metadata") or {}).get("resourceVersion") or ""
            )
            listed += len(items)
    return listed
