"""An in-memory cluster that implements modelpilot.operator.cluster.Cluster for real.

It stores plain JSON objects, hands out uids and resourceVersions, rejects stale status
writes, applies JSON merge patches, and garbage-collects by owner uid on delete. Helpers
play the controllers a real cluster has: a Job finishing, a Deployment's pods turning Ready.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Mapping
from typing import Any

from modelpilot.api import names
from modelpilot.api.summary import TrainingSummary, encode
from modelpilot.operator.errors import AlreadyExists, Conflict, NotFound

Key = tuple[str, str, str]


def _controller(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The ownerReference a controller (Job, ReplicaSet) puts on the pods it creates."""
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# metadata a client writes with a PUT (the rest is the server's).
_USER_METADATA = ("labels", "annotations")


class FakeCluster:
    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []  # (verb, kind, name) of every write
        self._rv = itertools.count(1)

    # --- the Cluster protocol -----------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.objects.get((kind, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, kind: str, namespace: str, selector: Mapping[str, str]) -> list[dict[str, Any]]:
        out = []
        for (k, ns, _), obj in sorted(self.objects.items()):
            labels = obj["metadata"].get("labels") or {}
            if (
                k == kind
                and ns == namespace
                and all(labels.get(a) == b for a, b in selector.items())
            ):
                out.append(copy.deepcopy(obj))
        return out

    def create(self, kind: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        if "generateName" in meta and "name" not in meta:
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        key = (kind, namespace, meta["name"])
        if key in self.objects:
            raise AlreadyExists(f"{kind} {meta['name']} already exists", status=409)
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), generation=1)
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[key] = obj
        self.calls.append(("create", kind, meta["name"]))
        return copy.deepcopy(obj)

    def patch(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        key = (kind, namespace, name)
        if key not in self.objects:
            raise NotFound(f"{kind} {name} not found", status=404)
        old = self.objects[key]
        new = merge_patch(old, patch)
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[key] = new
        self.calls.append(("patch", kind, name))
        return copy.deepcopy(new)

    def replace(
        self, kind: str, namespace: str, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        key = (kind, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise NotFound(f"{kind} {name} not found", status=404)
        sent = (body.get("metadata") or {}).get("resourceVersion")
        if sent is not None and sent != current["metadata"]["resourceVersion"]:
            raise Conflict(f"{kind} {name}: the object has been modified", status=409)
        new = copy.deepcopy(dict(body))
        # As the apiserver's PUT: the server's fields stay, the body's labels and annotations
        # replace the stored ones (absent: removed).
        sent_meta = body.get("metadata") or {}
        meta = {k: v for k, v in current["metadata"].items() if k not in _USER_METADATA}
        meta.update({k: copy.deepcopy(sent_meta[k]) for k in _USER_METADATA if k in sent_meta})
        new["metadata"] = {**meta, "resourceVersion": str(next(self._rv))}
        if new.get("spec") != current.get("spec"):
            new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        self.objects[key] = new
        self.calls.append(("replace", kind, name))
        return copy.deepcopy(new)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        obj = self.objects.pop((kind, namespace, name), None)
        if obj is None:
            return
        self.calls.append(("delete", kind, name))
        self._collect_garbage(obj["metadata"]["uid"])

    def replace_status(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        key = (names.KIND, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise NotFound(f"{name} not found", status=404)
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict(f"{name}: the object has been modified", status=409)
        current["status"] = copy.deepcopy(body["status"])
        current["metadata"]["resourceVersion"] = str(next(self._rv))
        self.calls.append(("status", names.KIND, name))
        return copy.deepcopy(current)

    # --- what the rest of a cluster would do ---------------------------------------------

    def _collect_garbage(self, uid: str) -> None:
        for key, obj in list(self.objects.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs) and key in self.objects:
                self.delete(*key)

    def add_model_store(
        self, namespace: str, name: str = "models", *, labelled: bool = True
    ) -> None:
        """A PersistentVolumeClaim, labelled as a model store unless told otherwise."""
        labels = {names.LABEL_MODEL_STORE: "true"} if labelled else {}
        self.create(
            "PersistentVolumeClaim",
            namespace,
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "labels": labels},
            },
        )

    def apply_model_deployment(
        self,
        namespace: str,
        name: str,
        spec: dict[str, Any],
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        key = (names.KIND, namespace, name)
        if key in self.objects:
            obj = self.objects[key]
            if obj["spec"] != spec:
                obj["spec"] = copy.deepcopy(spec)
                obj["metadata"]["generation"] += 1
            if annotations is not None:
                obj["metadata"]["annotations"] = dict(annotations)
            obj["metadata"]["resourceVersion"] = str(next(self._rv))
            return copy.deepcopy(obj)
        body = {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "metadata": {"name": name, "annotations": dict(annotations or {})},
            "spec": copy.deepcopy(spec),
        }
        return self.create(names.KIND, namespace, body)

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: obj for (k, _, name), obj in self.objects.items() if k == kind}

    def events(self) -> list[tuple[str, str]]:
        return [(e["reason"], e["message"]) for e in self.of_kind("Event").values()]

    def finish_job(
        self,
        namespace: str,
        name: str,
        summary: TrainingSummary | None,
        *,
        failed: bool = False,
        reason: str = "BackoffLimitExceeded",
        raw_message: str | None = None,
    ) -> None:
        job = self.objects[("Job", namespace, name)]
        # The Job controller labels its pods with the Job's name, as a real one does.
        labels = {**job["spec"]["template"]["metadata"]["labels"], "job-name": name}
        message = raw_message if raw_message is not None else encode(summary) if summary else ""
        self.create(
            "Pod",
            namespace,
            {
                "metadata": {
                    "name": f"{name}-pod",
                    "labels": labels,
                    "ownerReferences": [_controller(job)],
                },
                "status": {
                    "phase": "Failed" if failed else "Succeeded",
                    "containerStatuses": [
                        {
                            "name": "trainer",
                            "state": {
                                "terminated": {
                                    "exitCode": 3 if failed else 0,
                                    "message": message,
                                    "finishedAt": "2026-01-01T00:00:00Z",
                                }
                            },
                        }
                    ],
                },
            },
        )
        condition = (
            {
                "type": "Failed",
                "status": "True",
                "reason": reason,
                "message": "Job has reached the specified backoff limit",
            }
            if failed
            else {"type": "Complete", "status": "True"}
        )
        job["status"] = {"conditions": [condition]}
        job["metadata"]["resourceVersion"] = str(next(self._rv))

    def pend_job_pod(self, namespace: str, name: str, message: str) -> None:
        job = self.objects[("Job", namespace, name)]
        labels = dict(job["spec"]["template"]["metadata"]["labels"])
        self.create(
            "Pod",
            namespace,
            {
                "metadata": {
                    "name": f"{name}-pod",
                    "labels": labels,
                    "ownerReferences": [_controller(job)],
                },
                "status": {
                    "phase": "Pending",
                    "conditions": [
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": message,
                        }
                    ],
                },
            },
        )

    def make_ready(self, namespace: str, name: str) -> None:
        """The deployment controller and kubelet: every desired pod Ready."""
        dep = self.objects[("Deployment", namespace, name)]
        replicas = dep["spec"]["replicas"]
        dep["status"] = {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": replicas,
            "readyReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
        }
        dep["metadata"]["resourceVersion"] = str(next(self._rv))

    def replica_set(self, deployment: Mapping[str, Any]) -> dict[str, Any]:
        """The Deployment controller: the ReplicaSet NAME-abc it controls (created once)."""
        meta = deployment["metadata"]
        key = ("ReplicaSet", meta["namespace"], f"{meta['name']}-abc")
        if key not in self.objects:
            self.create(
                "ReplicaSet",
                meta["namespace"],
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": key[2],
                        "labels": dict(deployment["spec"]["template"]["metadata"]["labels"]),
                        "ownerReferences": [_controller(deployment)],
                    },
                },
            )
        return self.objects[key]

    def fail_progress(self, namespace: str, name: str, pod_message: str) -> None:
        dep = self.objects[("Deployment", namespace, name)]
        dep["status"] = {
            "observedGeneration": dep["metadata"]["generation"],
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": f"ReplicaSet {name}-abc has timed out progressing.",
                }
            ],
        }
        labels = dict(dep["spec"]["template"]["metadata"]["labels"])
        self.create(
            "Pod",
            namespace,
            {
                "metadata": {
                    "name": f"{name}-pod",
                    "labels": labels,
                    "ownerReferences": [_controller(self.replica_set(dep))],
                },
                "status": {
                    "containerStatuses": [
                        {
                            "name": "server",
                            "ready": False,
                            "restartCount": 4,
                            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                            "lastState": {"terminated": {"exitCode": 1, "message": pod_message}},
                        }
                    ]
                },
            },
        )
