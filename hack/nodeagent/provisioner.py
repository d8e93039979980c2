"""A dynamic provisioner for the `standard` StorageClass: one directory per claim.

It plays the external-provisioner sidecar: a pending claim of a class whose provisioner is
`modelpilot.dev/local-dir` gets a PersistentVolume (hostPath on this node, pre-bound to the
claim through claimRef) and the PV controller binds them; a released volume with reclaim
policy Delete is removed with its directory. It reacts to watch events on claims and
volumes and re-checks every few seconds.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

from nodeagent.kube import ApiError, Informer, Kube

log = logging.getLogger(__name__)
PROVISIONER = "modelpilot.dev/local-dir"


def volume_for_claim(pvc: dict, *, storage_class: dict, root: Path) -> dict:
    """The PersistentVolume to create for `pvc` (pure)."""
    meta, spec = pvc["metadata"], pvc["spec"]
    name = f"pvc-{meta['uid']}"
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "capacity": {
                "storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
            },
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
            "storageClassName": storage_class["metadata"]["name"],
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
            "hostPath": {"path": str(root / name), "type": "DirectoryOrCreate"},
        },
    }


class Provisioner(threading.Thread):
    def __init__(self, kube: Kube, *, root: Path, stop: threading.Event):
        super().__init__(name="provisioner", daemon=True)
        self.kube, self.root, self.stop = kube, root, stop

    def sync(self) -> None:
        classes = {
            sc["metadata"]["name"]: sc
            for sc in self.kube.get("/apis/storage.k8s.io/v1/storageclasses")["items"]
            if sc.get("provisioner") == PROVISIONER
        }
        volumes = {pv["metadata"]["name"]: pv for pv in self._volumes.items()}
        for pvc in self._claims.items():
            spec = pvc["spec"]
            if spec.get("volumeName") or pvc.get("status", {}).get("phase") != "Pending":
                continue
            if pvc["metadata"].get("deletionTimestamp"):
                continue
            sc = classes.get(spec.get("storageClassName") or "")
            if sc is None or f"pvc-{pvc['metadata']['uid']}" in volumes:
                continue
            pv = volume_for_claim(pvc, storage_class=sc, root=self.root)
            path = Path(pv["spec"]["hostPath"]["path"])
            path.mkdir(parents=True, exist_ok=True)
            # Pods run as non-root users of their own choosing (65532 in the project's
            # images) and hostPath ignores fsGroup: the claim's directory is writable by all,
            # as the local-path provisioner makes it.
            path.chmod(0o777)
            try:
                self.kube.create("/api/v1/persistentvolumes", pv)
                log.info(
                    "provisioned %s for %s/%s",
                    pv["metadata"]["name"],
                    pvc["metadata"]["namespace"],
                    pvc["metadata"]["name"],
                )
            except ApiError as err:
                if err.status != 409:
                    raise
        for name, pv in volumes.items():
            annotations = pv["metadata"].get("annotations") or {}
            if annotations.get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
                continue
            if (
                pv.get("status", {}).get("phase") in ("Released", "Failed")
                and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete"
            ):
                path = Path(pv["spec"].get("hostPath", {}).get("path", ""))
                if path.is_relative_to(self.root):
                    shutil.rmtree(path, ignore_errors=True)
                try:
                    self.kube.delete(f"/api/v1/persistentvolumes/{name}")
                except ApiError as err:
                    if err.status != 404:
                        raise

    def run(self) -> None:
        changed = threading.Event()
        self._claims = Informer(self.kube, "/api/v1/persistentvolumeclaims", changed).start(
            self.stop
        )
        self._volumes = Informer(self.kube, "/api/v1/persistentvolumes", changed).start(self.stop)
        while not self.stop.is_set():
            changed.wait(5.0)  # the periodic pass also picks up new StorageClasses
            changed.clear()
            if not (self._claims.synced.is_set() and self._volumes.synced.is_set()):
                continue
            try:
                self.sync()
            except Exception as err:
                log.warning("provisioner: %s", err)
                self.stop.wait(1.0)
