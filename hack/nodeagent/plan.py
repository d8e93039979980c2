"""Pod spec -> process plan: what to run, with which environment, mounts and directory.

Pure: the caller fetches the ConfigMaps and Secrets a pod refers to (`referenced_objects`),
materialises its volumes, and passes both in; `plan_container` only decides. Errors a real
kubelet reports as `CreateContainerConfigError` / `CreateContainerError` raise `ConfigError`
with that reason, so the pod waits with a message a person can act on instead of hanging.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ConfigError(Exception):
    """The pod cannot start as specified; `reason` is the kubelet's waiting reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Mount:
    source: str  # path on this host
    target: str  # path the container sees
    read_only: bool = False


@dataclass(frozen=True)
class ContainerPlan:
    """Everything the launcher needs to exec one container inside its pod's namespaces."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str
    mounts: tuple[Mount, ...]
    hostname: str
    netns: str | None
    start_error_file: str  # host file the launcher writes when the command cannot start
    exit_file: str  # host file the shim writes the exit status to

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class Lookups:
    """ConfigMap and Secret data the pod refers to, by name; Secret values already decoded."""

    configmaps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


_VAR = re.compile(r"\$(\$|\(([^)]*)\))")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: defined names are replaced, unknown ones kept verbatim,
    and `$$` escapes a dollar (so `$$(X)` yields the literal `$(X)`)."""

    def sub(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "$"
        name = match.group(2)
        return env.get(name, match.group(0))

    return _VAR.sub(sub, text)


def field_value(pod: Mapping, path: str) -> str:
    """The downward-API value of `path` (fieldRef.fieldPath) for `pod`."""
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": status.get("podIP", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.podIPs": ",".join(p["ip"] for p in status.get("podIPs", []) or []),
        "status.hostIPs": ",".join(p["ip"] for p in status.get("hostIPs", []) or []),
    }
    if path in simple:
        return simple[path]
    for kind in ("labels", "annotations"):
        items = meta.get(kind) or {}
        if path == f"metadata.{kind}":
            return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
        match = re.fullmatch(rf"metadata\.{kind}\['(.+)'\]", path)
        if match:
            return items.get(match.group(1), "")
    raise ConfigError("CreateContainerConfigError", f"unsupported fieldPath {path!r}")


def _lookup(
    lookups: Lookups, kind: str, name: str, key: str | None, optional: bool, what: str
) -> Mapping[str, str] | str | None:
    data = (lookups.configmaps if kind == "configmap" else lookups.secrets).get(name)
    label = "configmap" if kind == "configmap" else "secret"
    kind_name = "ConfigMap" if kind == "configmap" else "Secret"
    if data is None:
        if optional:
            return None
        raise ConfigError("CreateContainerConfigError", f'{label} "{name}" not found ({what})')
    if key is None:
        return data
    if key not in data:
        if optional:
            return None
        raise ConfigError(
            "CreateContainerConfigError",
            f"couldn't find key {key} in {kind_name} {name} ({what})",
        )
    return data[key]


def container_env(
    pod: Mapping, container: Mapping, lookups: Lookups, base: Mapping[str, str]
) -> dict[str, str]:
    """The container's environment: `base` (PATH, service variables...), then `envFrom`, then
    `env` in order, each value expanded against what is defined before it."""
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, ref_key in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = source.get(ref_key)
            if ref:
                data = _lookup(
                    lookups, kind, ref["name"], None, ref.get("optional", False), "envFrom"
                )
                for k, v in (data or {}).items():
                    env[prefix + k] = v
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(var.get("value", ""), env)
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "configMapKeyRef" in source or "secretKeyRef" in source:
            kind, ref = (
                ("configmap", source["configMapKeyRef"])
                if "configMapKeyRef" in source
                else ("secret", source["secretKeyRef"])
            )
            value = _lookup(
                lookups, kind, ref["name"], ref["key"], ref.get("optional", False), f"env {name}"
            )
            if value is not None:
                env[name] = value
        elif "resourceFieldRef" in source:
            env[name] = resource_value(container, source["resourceFieldRef"])
        else:
            raise ConfigError("CreateContainerConfigError", f"env {name}: unsupported valueFrom")
    return env


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(text: str) -> float:
    match = _QUANTITY.match(str(text))
    if not match or match.group(2) not in _SUFFIX:
        raise ConfigError("CreateContainerConfigError", f"cannot parse quantity {text!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def resource_value(
    container: Mapping, ref: Mapping, *, node_cpu: int = 16, node_memory: int = 32 * 2**30
) -> str:
    """resourceFieldRef: the container's request/limit, or the node's capacity when unset
    (what the kubelet reports for an unset limit)."""
    kind, _, resource = ref["resource"].partition(".")
    value = (container.get("resources", {}).get(kind) or {}).get(resource)
    divisor = quantity(ref.get("divisor", "1"))
    amount = (node_cpu if resource == "cpu" else node_memory) if value is None else quantity(value)
    result = -(-amount // divisor)  # ceiling, as the kubelet rounds up
    return str(int(result))


def referenced_objects(pod: Mapping) -> tuple[set[str], set[str]]:
    """Names of the ConfigMaps and Secrets the pod's env and volumes refer to."""
    configmaps: set[str] = set()
    secrets: set[str] = set()
    spec = pod.get("spec", {})
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                configmaps.add(source["configMapRef"]["name"])
            if "secretRef" in source:
                secrets.add(source["secretRef"]["name"])
        for var in container.get("env") or []:
            source = var.get("valueFrom") or {}
            if "configMapKeyRef" in source:
                configmaps.add(source["configMapKeyRef"]["name"])
            if "secretKeyRef" in source:
                secrets.add(source["secretKeyRef"]["name"])
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            configmaps.add(volume["configMap"]["name"])
        if "secret" in volume:
            secrets.add(volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                configmaps.add(source["configMap"]["name"])
            if "secret" in source:
                secrets.add(source["secret"]["name"])
    return configmaps, secrets


def service_env(host: str, port: int) -> dict[str, str]:
    """The variables a pod gets for the `kubernetes` Service, pointing at a reachable address."""
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
        f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }


def image_entrypoint(image: str, entrypoints: Mapping[str, object]) -> dict | None:
    """The configured {"entrypoint": [...], "cmd": [...]} for `image` (matched without tag or
    digest), if any; a bare list in the table is an entrypoint without a CMD."""
    repo = image.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    for pattern, value in entrypoints.items():
        if repo == pattern or repo.endswith("/" + pattern):
            if isinstance(value, Mapping):
                return {
                    "entrypoint": list(value.get("entrypoint") or []),
                    "cmd": list(value.get("cmd") or []),
                }
            return {"entrypoint": list(value), "cmd": []}  # type: ignore[call-overload]
    return None


def plan_container(
    pod: Mapping,
    container: Mapping,
    *,
    env: Mapping[str, str],
    volume_paths: Mapping[str, str],
    container_dir: str,
    pod_tmp: str,
    netns: str | None,
    entrypoints: Mapping[str, object] | None = None,
    default_cwd: str = "/",
    etc_files: Mapping[str, str] | None = None,
    host_paths: tuple[str, ...] = (),
) -> ContainerPlan:
    """Decide how to run `container`: argv, environment, mounts (sorted so parents come first)
    and working directory. `volume_paths` maps each pod volume to its directory on the host;
    `etc_files` maps files such as /etc/hosts to the pod's own copy (kubelet-managed files).
    `host_paths` (the project's virtualenv and sources, which stand in for the image) stay
    visible: one that a pod mount would hide — a clone under /tmp behind the pod's private
    /tmp — is mounted again, read-only, at its own path."""
    name = container["name"]
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    if not command:
        # Docker's rule: the image's ENTRYPOINT, then `args` if given, else its CMD.
        image = image_entrypoint(container.get("image", ""), entrypoints or {})
        if image:
            command = image["entrypoint"]
            args = args or image["cmd"]
            if not command:
                command, args = args[:1], args[1:]
    if not command:
        raise ConfigError(
            "CreateContainerError",
            f"container {name!r} sets no command and the local node agent ignores images "
            f"(entrypoint of {container.get('image', '')!r} unknown): set `command`",
        )
    argv = tuple(expand(part, env) for part in command + args)

    mounts: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        if vm["name"] not in volume_paths:
            raise ConfigError(
                "CreateContainerConfigError",
                f"volumeMount {vm['name']!r} names no volume of the pod",
            )
        source = volume_paths[vm["name"]]
        sub = vm.get("subPath") or expand(vm.get("subPathExpr", ""), env)
        if sub:
            if PurePosixPath(sub).is_absolute() or ".." in PurePosixPath(sub).parts:
                raise ConfigError("CreateContainerConfigError", f"invalid subPath {sub!r}")
            source = str(PurePosixPath(source) / sub)
        mounts.append(Mount(source, vm["mountPath"], bool(vm.get("readOnly", False))))
    if not any(m.target.rstrip("/") == "/tmp" for m in mounts):
        mounts.append(Mount(pod_tmp, "/tmp"))
    for target, source in (etc_files or {}).items():
        if not any(m.target == target for m in mounts):
            mounts.append(Mount(source, target, read_only=False))
    for path in host_paths:
        hidden = any(
            PurePosixPath(path).is_relative_to(PurePosixPath(m.target)) for m in mounts
        )
        if hidden and not any(m.target == path for m in mounts):
            mounts.append(Mount(path, path, read_only=True))
    term_path = container.get("terminationMessagePath") or "/dev/termination-log"
    mounts.append(Mount(f"{container_dir}/termination-log", term_path))
    mounts.sort(key=lambda m: len(PurePosixPath(m.target).parts))

    return ContainerPlan(
        name=name,
        argv=argv,
        env=tuple(sorted(env.items())),
        cwd=container.get("workingDir") or default_cwd,
        mounts=tuple(mounts),
        hostname=pod["metadata"]["name"][:63],
        netns=netns,
        start_error_file=f"{container_dir}/start-error",
        exit_file=f"{container_dir}/exit",
    )


def etc_hosts(*, pod_name: str, pod_ip: str, host_aliases: list | None = None) -> str:
    """The pod's /etc/hosts, as the kubelet writes it."""
    lines = [
        "# Kubernetes-managed hosts file (local node agent).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"{pod_ip}\t{pod_name}",
    ]
    for alias in host_aliases or []:
        lines.append(f"{alias['ip']}\t" + "\t".join(alias.get("hostnames", [])))
    return "\n".join(lines) + "\n"


def resolv_conf(*, nameserver: str, namespace: str) -> str:
    """The pod's /etc/resolv.conf. There is no cluster DNS: the name server is the node's
    bridge address where nothing answers, so lookups fail at once instead of timing out
    against a resolver the pod network cannot reach."""
    return (
        f"nameserver {nameserver}\n"
        f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local\n"
        "options ndots:1 timeout:1 attempts:1\n"
    )
