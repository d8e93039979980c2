"""Pod volumes as directories on this host, and the ConfigMaps/Secrets a pod refers to.

emptyDir is a directory per pod; hostPath is the path itself; a persistentVolumeClaim is its
bound PersistentVolume's hostPath (the provisioner makes one directory per claim); configMap,
secret, downwardAPI and projected volumes (including the service-account token, requested
through the TokenRequest API and bound to the pod) are written as files once, at pod start.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from nodeagent.kube import ApiError, Kube
from nodeagent.plan import ConfigError, Lookups, expand, field_value, referenced_objects


class VolumeNotReady(Exception):
    """A volume cannot be set up yet (claim not bound...); the worker retries."""


def _decode(value: str) -> str:
    return base64.b64decode(value).decode("utf-8", errors="surrogateescape")


def fetch_lookups(kube: Kube, pod: Mapping) -> Lookups:
    namespace = pod["metadata"]["namespace"]
    configmaps, secrets = referenced_objects(pod)
    cms: dict[str, dict[str, str]] = {}
    secs: dict[str, dict[str, str]] = {}
    for name in configmaps:
        try:
            obj = kube.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        except ApiError as err:
            if err.status == 404:
                continue
            raise
        data = dict(obj.get("data") or {})
        data.update({k: _decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        cms[name] = data
    for name in secrets:
        try:
            obj = kube.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except ApiError as err:
            if err.status == 404:
                continue
            raise
        secs[name] = {k: _decode(v) for k, v in (obj.get("data") or {}).items()}
    return Lookups(configmaps=cms, secrets=secs)


def _write(path: Path, content: str, mode: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content.encode("utf-8", errors="surrogateescape"))
    os.chmod(tmp, mode if mode is not None else 0o644)
    tmp.replace(path)


def _key_files(
    target: Path, data: Mapping[str, str] | None, items, default_mode, *, optional: bool, what: str
) -> None:
    if data is None:
        if optional:
            return
        raise VolumeNotReady(f"{what} not found")
    if items:
        for item in items:
            if item["key"] not in data:
                if optional:
                    continue
                raise VolumeNotReady(f"{what} has no key {item['key']!r}")
            _write(target / item["path"], data[item["key"]], item.get("mode", default_mode))
    else:
        for key, value in data.items():
            _write(target / key, value, default_mode)


def ensure_subpaths(
    container: Mapping, volume_paths: Mapping[str, str], env: Mapping[str, str]
) -> None:
    """Prepare the container's volume subPaths as the kubelet does: a subPath that resolves
    outside its volume (through a symlink) is refused, and a missing one is created as a
    directory with the volume root's mode (the kubelet's SafeMakeDir)."""
    for vm in container.get("volumeMounts") or []:
        sub = vm.get("subPath") or expand(vm.get("subPathExpr", ""), env)
        source = volume_paths.get(vm["name"])
        if not sub or source is None:
            continue
        if PurePosixPath(sub).is_absolute() or ".." in PurePosixPath(sub).parts:
            raise ConfigError("CreateContainerConfigError", f"invalid subPath {sub!r}")
        root = os.path.realpath(source)
        target = os.path.join(root, sub)
        real = os.path.realpath(target)
        if real != root and not real.startswith(root + os.sep):
            raise ConfigError(
                "CreateContainerConfigError",
                f"subPath {sub!r} of volume {vm['name']!r} resolves outside the volume",
            )
        if not os.path.lexists(target):
            os.makedirs(target, mode=stat.S_IMODE(os.stat(root).st_mode), exist_ok=True)


class VolumeBuilder:
    def __init__(self, kube: Kube):
        self.kube = kube

    def _token(self, pod: Mapping, source: Mapping) -> str:
        meta = pod["metadata"]
        sa = pod["spec"].get("serviceAccountName") or "default"
        spec = {
            "expirationSeconds": int(source.get("expirationSeconds", 3607)),
            "boundObjectRef": {
                "kind": "Pod",
                "apiVersion": "v1",
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        if source.get("audience"):
            spec["audiences"] = [source["audience"]]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        try:
            out = self.kube.create(
                f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{sa}/token", body
            )
        except ApiError as err:
            raise VolumeNotReady(f"token for service account {sa}: {err}") from err
        return out["status"]["token"]

    def _claim_path(self, namespace: str, claim: str) -> str:
        try:
            pvc = self.kube.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim}")
        except ApiError as err:
            raise VolumeNotReady(f"persistentvolumeclaim {claim!r}: {err}") from err
        volume = pvc.get("spec", {}).get("volumeName")
        if not volume or pvc.get("status", {}).get("phase") != "Bound":
            raise VolumeNotReady(f"persistentvolumeclaim {claim!r} is not bound yet")
        pv = self.kube.get(f"/api/v1/persistentvolumes/{volume}")
        spec = pv.get("spec", {})
        path = (spec.get("hostPath") or spec.get("local") or {}).get("path")
        if not path:
            raise ConfigError(
                "CreateContainerConfigError",
                f"persistentvolume {volume} is neither hostPath nor local",
            )
        Path(path).mkdir(parents=True, exist_ok=True)
        return path

    def build(self, pod: Mapping, pod_dir: Path, lookups: Lookups) -> dict[str, str]:
        """Set up every volume of `pod`; returns volume name -> host path."""
        namespace = pod["metadata"]["namespace"]
        out: dict[str, str] = {}
        for vol in pod["spec"].get("volumes") or []:
            name = vol["name"]
            target = pod_dir / "volumes" / name
            if "emptyDir" in vol:
                target.mkdir(parents=True, exist_ok=True)
                out[name] = str(target)
            elif "hostPath" in vol:
                path = Path(vol["hostPath"]["path"])
                kind = vol["hostPath"].get("type", "")
                if kind == "DirectoryOrCreate":
                    path.mkdir(parents=True, exist_ok=True)
                elif kind == "FileOrCreate" and not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
                elif kind in ("Directory", "File") and not path.exists():
                    raise VolumeNotReady(f"hostPath {path} does not exist")
                out[name] = str(path)
            elif "persistentVolumeClaim" in vol:
                out[name] = self._claim_path(namespace, vol["persistentVolumeClaim"]["claimName"])
            elif "configMap" in vol:
                src = vol["configMap"]
                _key_files(
                    target,
                    lookups.configmaps.get(src["name"]),
                    src.get("items"),
                    src.get("defaultMode"),
                    optional=src.get("optional", False),
                    what=f"configmap {src['name']!r}",
                )
                target.mkdir(parents=True, exist_ok=True)
                out[name] = str(target)
            elif "secret" in vol:
                src = vol["secret"]
                _key_files(
                    target,
                    lookups.secrets.get(src["secretName"]),
                    src.get("items"),
                    src.get("defaultMode", 0o644),
                    optional=src.get("optional", False),
                    what=f"secret {src['secretName']!r}",
                )
                target.mkdir(parents=True, exist_ok=True)
                out[name] = str(target)
            elif "downwardAPI" in vol:
                self._downward(
                    pod,
                    target,
                    vol["downwardAPI"].get("items") or [],
                    vol["downwardAPI"].get("defaultMode"),
                )
                target.mkdir(parents=True, exist_ok=True)
                out[name] = str(target)
            elif "projected" in vol:
                proj = vol["projected"]
                mode = proj.get("defaultMode")
                for src in proj.get("sources") or []:
                    if "serviceAccountToken" in src:
                        sat = src["serviceAccountToken"]
                        _write(target / sat["path"], self._token(pod, sat), mode or 0o600)
                    elif "configMap" in src:
                        cm = src["configMap"]
                        _key_files(
                            target,
                            lookups.configmaps.get(cm["name"]),
                            cm.get("items"),
                            mode,
                            optional=cm.get("optional", False),
                            what=f"configmap {cm['name']!r}",
                        )
                    elif "secret" in src:
                        sec = src["secret"]
                        _key_files(
                            target,
                            lookups.secrets.get(sec["name"]),
                            sec.get("items"),
                            mode,
                            optional=sec.get("optional", False),
                            what=f"secret {sec['name']!r}",
                        )
                    elif "downwardAPI" in src:
                        self._downward(pod, target, src["downwardAPI"].get("items") or [], mode)
                target.mkdir(parents=True, exist_ok=True)
                out[name] = str(target)
            else:
                kinds = sorted(set(vol) - {"name"})
                raise ConfigError(
                    "CreateContainerConfigError",
                    f"volume {name!r}: unsupported volume type {kinds}",
                )
        return out

    @staticmethod
    def _downward(pod: Mapping, target: Path, items, mode) -> None:
        for item in items:
            if "fieldRef" in item:
                value = field_value(pod, item["fieldRef"]["fieldPath"])
            else:
                raise ConfigError(
                    "CreateContainerConfigError",
                    "downwardAPI resourceFieldRef files are not supported",
                )
            _write(target / item["path"], value, item.get("mode", mode))
