"""The node: containerd, runc, CNI and a kubelet per cluster.

Pods run from the project's built images (hack/images), so the image, securityContext and
resource limits are what the tests exercise. What the kubelet does not do is left to
hack/nodeagent (`python -m nodeagent`): ClusterIPs and cluster DNS on this cluster's bridge, and
the default StorageClass's provisioner. A kube-proxy and CoreDNS would program the machine's
one netfilter table and listen on one DNS port, so two clusters side by side (CI's index 0
and a developer's) would clobber each other; the agent's proxy keeps each cluster's Services
on its own bridge. hack/k8s/README.md records why.

One containerd per cluster, not per machine: the CRI plugin takes one CNI configuration, and
each cluster has its own bridge and pod range (Layout). Its root (images, snapshots) lives in
the cluster's directory and survives `down`, so images are imported once per cluster and
again only when their archive changes. Everything listens on a unix socket in that
directory, on loopback (containerd's streaming server) or on the cluster's bridge address
(the kubelet): nothing on this machine's other addresses.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The images a node needs; a pod names them without a registry (docker.io is implied).
IMAGES = ("operator", "serving", "trainer")
PAUSE_IMAGE = "docker.io/modelpilot/pause:dev"


def containerd_dir(lay) -> Path:
    return lay.dir / "containerd"


def containerd_socket(lay) -> Path:
    return containerd_dir(lay) / "containerd.sock"


def registries_dir(lay) -> Path:
    """containerd's registry config_path: one HOST:PORT/hosts.toml per registry it may pull
    from (the cluster's own, hack/localcluster/registry.py writes it)."""
    return containerd_dir(lay) / "certs.d"


def containerd_config(lay) -> str:
    """containerd 2.x config (version 3). restrict_oom_score_adj: this machine's bounding set
    lacks CAP_SYS_RESOURCE, so runc may not lower a container's oom_score_adj below ours."""
    d = containerd_dir(lay)
    cri_rt = "plugins.'io.containerd.cri.v1.runtime'"
    return f"""version = 3
root = "{d / "root"}"
state = "{d / "state"}"
# NRI listens on one machine-wide socket; nothing here uses it.
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "{containerd_socket(lay)}"

[ttrpc]
  address = "{d / "containerd.sock.ttrpc"}"

[debug]
  level = "info"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  # The test bed's own builds are imported (import_images); a release is pulled from this
  # cluster index's registry, which registries_dir(lay) holds a hosts.toml for. Any other
  # registry has none, and nothing leaves this machine, so its pull fails at once.
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{PAUSE_IMAGE}"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "{registries_dir(lay)}"

[{cri_rt}]
  restrict_oom_score_adj = true
  enable_selinux = false
  [{cri_rt}.containerd]
    default_runtime_name = "runc"
    [{cri_rt}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri_rt}.containerd.runtimes.runc.options]
        BinaryName = "{lay.bin / "runc"}"
        SystemdCgroup = false
  [{cri_rt}.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "{lay.dir / "cni" / "net.d"}"
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  # kubectl exec/attach/port-forward stream through the kubelet to this, on loopback.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def cni_config(lay) -> dict:
    """The pod network: the cluster's own bridge (cluster-up's mpN) and /24, host-local IPAM."""
    prefix = lay.pod_cidr.split("/")[0].rsplit(".", 1)[0]
    return {
        "cniVersion": "1.0.0",
        "name": f"modelpilot-{lay.bridge}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": lay.bridge,
                "isGateway": True,
                "ipMasq": False,  # nothing leaves this machine
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [
                        [
                            {
                                "subnet": lay.pod_cidr,
                                "gateway": lay.bridge_ip,
                                "rangeStart": f"{prefix}.10",
                                "rangeEnd": f"{prefix}.250",
                            }
                        ]
                    ],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(lay.dir / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(lay) -> dict:
    p = lay.pki
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": lay.bridge_ip,
        "port": lay.kubelet_port,
        "readOnlyPort": 0,
        "healthzPort": 0,
        "tlsCertFile": str(p / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(p / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(p / "ca.crt")},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": f"unix://{containerd_socket(lay)}",
        # Only cgroup v1 controllers are mounted here; the node works inside them, each
        # cluster under its own root so two kubelets never manage the same kubepods.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/modelpilot-{lay.index}",
        "cgroupsPerQOS": True,
        "failSwapOn": False,
        "clusterDNS": [lay.bridge_ip],
        "clusterDomain": "cluster.local",
        "resolvConf": str(lay.dir / "resolv.conf"),
        "podCIDR": lay.pod_cidr,
        "podLogsDir": str(lay.dir / "pod-logs"),
        "maxPods": 110,
        "serializeImagePulls": False,
        # Imported images cannot be pulled again: never garbage-collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # The disk is shared with everything else on this machine; only memory pressure
        # evicts (the kubelet cannot read /dev/vda's stats here anyway).
        "evictionHard": {"memory.available": "200Mi"},
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "registerNode": True,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": False,
        "localStorageCapacityIsolation": True,
    }


def write_node_configs(lay) -> None:
    d = containerd_dir(lay)
    for sub in (d, lay.dir / "cni" / "net.d", lay.dir / "kubelet", lay.dir / "pod-logs"):
        sub.mkdir(parents=True, exist_ok=True)
    (d / "config.toml").write_text(containerd_config(lay))
    (lay.dir / "cni" / "net.d" / "10-modelpilot.conflist").write_text(
        json.dumps(cni_config(lay), indent=2) + "\n"
    )
    (lay.dir / "kubelet-config.json").write_text(json.dumps(kubelet_config(lay), indent=2) + "\n")
    # Pods with dnsPolicy Default get no name server: nothing may leave this machine.
    (lay.dir / "resolv.conf").write_text("options ndots:5\n")


def ensure_cgroup_root(lay) -> None:
    """The kubelet's cgroupRoot must exist in every v1 hierarchy; it is made inside the
    machine's existing cgroup mounts, which are left as they are. cpuset needs its CPUs and
    memory nodes filled in before anything can join it."""
    name = kubelet_config(lay)["cgroupRoot"].strip("/")
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if hierarchy.name == "unified" or not (hierarchy / "cgroup.procs").exists():
            continue
        path = hierarchy / name
        path.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if not (path / knob).read_text().strip():
                    (path / knob).write_text((hierarchy / knob).read_text())


def containerd_argv(lay) -> list[str]:
    return [str(lay.bin / "containerd"), f"--config={containerd_dir(lay) / 'config.toml'}"]


def kubelet_argv(lay) -> list[str]:
    return [
        str(lay.bin / "kubelet"),
        f"--config={lay.dir / 'kubelet-config.json'}",
        f"--kubeconfig={lay.pki / 'nodeagent.kubeconfig'}",
        f"--hostname-override={lay.node_name}",
        f"--node-ip={lay.bridge_ip}",
        f"--root-dir={lay.dir / 'kubelet'}",
        "--v=1",
    ]


def services_agent_argv(lay) -> list[str]:
    return [
        lay.python,
        "-m",
        "nodeagent",
        f"--kubeconfig={lay.pki / 'nodeagent.kubeconfig'}",
        f"--state-dir={lay.dir}",
        f"--bridge={lay.bridge}",
        f"--bridge-ip={lay.bridge_ip}",
        f"--service-cidr={lay.service_cidr}",
        f"--apiserver-host={lay.bridge_ip}",
        f"--apiserver-port={lay.apiserver_port}",
    ]


def node_env(lay) -> dict[str, str]:
    # containerd finds containerd-shim-runc-v2 on PATH.
    return {**os.environ, "PATH": f"{lay.bin}:{os.environ.get('PATH', '')}"}


def ctr(lay, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(lay.bin / "ctr"), f"--address={containerd_socket(lay)}", "--namespace=k8s.io", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def containerd_ready(lay) -> bool:
    return containerd_socket(lay).exists() and ctr(lay, "version", timeout=5).returncode == 0


def import_images(lay, *, log) -> None:
    """Import each image archive whose content changed since this cluster last imported it."""
    archives = lay.cache / "images"
    for name in (*IMAGES, "pause", "base"):
        archive = archives / f"{name}.tar"
        if not archive.exists():
            raise FileNotFoundError(f"{archive} is missing: run `make images`")
        stamp = containerd_dir(lay) / f"imported-{name}"
        key = (archives / f".{name}.stamp").read_text().strip()
        if stamp.exists() and stamp.read_text().strip() == key:
            continue
        start = time.monotonic()
        # --no-unpack would defer the unpack to the first pod; unpacking now keeps pod
        # start-up times what they will be on every later run.
        res = ctr(lay, "images", "import", "--snapshotter=overlayfs", str(archive))
        if res.returncode != 0:
            raise RuntimeError(f"ctr images import {archive} failed: {res.stderr.strip()}")
        for alias in release_aliases(name):
            ctr(lay, "images", "rm", alias)
            res = ctr(lay, "images", "tag", f"docker.io/modelpilot/{name}:dev", alias)
            if res.returncode != 0:
                raise RuntimeError(f"ctr images tag {alias} failed: {res.stderr.strip()}")
        stamp.write_text(key + "\n")
        log(f"#   imported {name} into containerd in {time.monotonic() - start:.1f}s")


def release_aliases(name: str) -> tuple[str, ...]:
    """The names a release publishes the image under, which the chart, manifests/ and the
    operator's defaults use (ghcr.io/modelpilot/NAME:APP_VERSION): the :dev build answers to
    them too, so every install path runs what this clone built, and nothing is pulled."""
    if name == "base":
        # Debian bookworm's Python 3.11, what BASE_IMAGE=python:3.11-slim stands for in a
        # user's build; plain test pods name it so.
        return ("docker.io/library/python:3.11-slim",)
    if name not in IMAGES:
        return ()
    chart = (REPO / "charts" / "modelpilot" / "Chart.yaml").read_text()
    version = next(
        line.partition(":")[2].strip().strip('"')
        for line in chart.splitlines()
        if line.startswith("appVersion:")
    )
    return (f"ghcr.io/modelpilot/{name}:{version}",)
