"""Bring the local control plane up and down: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and the node (realnode.py: containerd, the kubelet and the services agent), as
plain processes of this machine.

Every process started here is recorded in a pidfile together with its kernel start time, so
`down` stops exactly those processes even if a PID was reused. `up` is idempotent: a component
whose recorded process is alive is left alone; when nothing is running it starts from a clean
etcd. The apiserver listens on the pod bridge's address (10.244.0.1 by default), the one
address both this host and every pod network namespace reach; etcd and the controllers stay
on loopback.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from localcluster import pki, realnode, registry

REPO = Path(__file__).resolve().parents[2]
HACK = REPO / "hack"


def _versions() -> dict[str, str]:
    out = {}
    for line in (HACK / "k8s" / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


# Cluster N's service range is 10.(96+N).0.0/16: 0..15 keeps it inside 10.96.0.0/12, the
# range LOCAL_ONLY pins to this machine. A higher index would route ClusterIPs off it.
MAX_CLUSTER_INDEX = 15


def cluster_index(value: str) -> int:
    """MODELPILOT_CLUSTER_INDEX, refused with the reason when it names no usable cluster."""
    try:
        index = int(value)
    except ValueError:
        raise ValueError(
            f"MODELPILOT_CLUSTER_INDEX={value!r}: expected a whole number 0..{MAX_CLUSTER_INDEX}"
        ) from None
    if not 0 <= index <= MAX_CLUSTER_INDEX:
        raise ValueError(
            f"MODELPILOT_CLUSTER_INDEX={index}: expected 0..{MAX_CLUSTER_INDEX}; cluster N's "
            f"services use 10.(96+N).0.0/16, which must stay inside 10.96.0.0/12 (under "
            f"`pytest -n K` worker k takes the index + k)"
        )
    return index


@dataclass(frozen=True)
class Layout:
    """Where things live and which addresses they use; all derived from the environment."""

    cache: Path
    k8s_version: str
    node_name: str = "local-node"
    bridge: str = "mp0"
    bridge_ip: str = "10.244.0.1"
    pod_cidr: str = "10.244.0.0/24"
    service_cidr: str = "10.96.0.0/16"
    apiserver_port: int = 6443
    etcd_port: int = 2379
    etcd_peer_port: int = 2380
    kubelet_port: int = 10250
    controller_manager_port: int = 10257
    scheduler_port: int = 10259
    index: int = 0
    python: str = field(default_factory=lambda: sys.executable)

    @classmethod
    def from_env(cls) -> Layout:
        """The default cluster, or with MODELPILOT_CLUSTER_INDEX=N (1..15) another one beside it:
        its own state dir, bridge, pod and service ranges and loopback ports."""
        cache = Path(os.environ.get("MODELPILOT_CACHE") or Path.home() / ".cache" / "modelpilot")
        i = cluster_index(os.environ.get("MODELPILOT_CLUSTER_INDEX") or "0")
        return cls(
            cache=cache,
            k8s_version=_versions()["K8S_VERSION"],
            index=i,
            bridge=f"mp{i}",
            bridge_ip=f"10.244.{i}.1",
            pod_cidr=f"10.244.{i}.0/24",
            service_cidr=f"10.{96 + i}.0.0/16",
            etcd_port=2379 + 10 * i,
            etcd_peer_port=2380 + 10 * i,
            controller_manager_port=10257 + 100 * i,
            scheduler_port=10259 + 100 * i,
        )

    @property
    def kubernetes_service_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.service_cidr).hosts()))

    @property
    def bin(self) -> Path:
        return self.cache / "k8s" / self.k8s_version / "bin"

    @property
    def dir(self) -> Path:
        return self.cache / ("cluster" if self.index == 0 else f"cluster-{self.index}")

    @property
    def pki(self) -> Path:
        return self.dir / "pki"

    @property
    def run(self) -> Path:
        return self.dir / "run"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{self.bridge_ip}:{self.apiserver_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"


# ---------------------------------------------------------------------------- processes


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name in parentheses may contain spaces.
    return stat.rpartition(")")[2].split()[19]


def recorded_pid(run: Path, name: str) -> int | None:
    """The PID in `name`'s pidfile if that very process is still alive, else None."""
    try:
        pid_s, started = (run / f"{name}.pid").read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_s)
    if _start_time(pid) != started:
        return None
    state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    return None if state == "Z" else pid


def _spawn(lay: Layout, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    lay.logs.mkdir(parents=True, exist_ok=True)
    lay.run.mkdir(parents=True, exist_ok=True)
    log = open(lay.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
        cwd=lay.dir,
    )
    log.close()
    (lay.run / f"{name}.pid").write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
    return proc.pid


def stop_pid(pid: int, *, grace: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if _start_time(pid) is None or _is_zombie(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


class StartupError(RuntimeError):
    """A component did not become healthy; the message names its log file."""


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(lay: Layout, name: str, check, timeout: float) -> None:
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        if check():
            print(f"#   {name} ready after {time.monotonic() - start:.1f}s", file=sys.stderr)
            return
        if recorded_pid(lay.run, name) is None:
            break
        time.sleep(0.1)
    log = lay.logs / f"{name}.log"
    raise StartupError(f"{name} did not become healthy; log {log}:\n{_tail(log)}")


# ---------------------------------------------------------------------------- health


def _ssl_context(lay: Layout) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(lay.pki / "ca.crt"))
    ctx.load_cert_chain(str(lay.pki / "admin.crt"), str(lay.pki / "admin.key"))
    return ctx


def _get(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 2) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return 0, b""


def etcd_healthy(lay: Layout) -> bool:
    status, body = _get(f"{lay.etcd_url}/health")
    return status == 200 and b'"true"' in body


def apiserver_ready(lay: Layout) -> bool:
    return _get(f"{lay.server}/readyz", _ssl_context(lay))[0] == 200


def node_ready(lay: Layout) -> bool:
    status, body = _get(f"{lay.server}/api/v1/nodes/{lay.node_name}", _ssl_context(lay))
    if status != 200:
        return False
    node = json.loads(body)
    ready = any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in node.get("status", {}).get("conditions", [])
    )
    not_ready_taint = any(
        t["key"].startswith("node.kubernetes.io/")
        for t in node.get("spec", {}).get("taints", []) or []
    )
    return ready and not not_ready_taint


CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
# The node: the agent only proxies Services, answers DNS and provisions volumes.
COMPONENTS = (*CONTROL_PLANE, "nodeagent", "containerd", "kubelet")


def healthy(lay: Layout) -> bool:
    if not all(recorded_pid(lay.run, c) for c in COMPONENTS):
        return False
    return apiserver_ready(lay) and node_ready(lay)


# ---------------------------------------------------------------------------- config files


def _kubeconfig(lay: Layout, user: str, *, embed: bool) -> str:
    if embed:
        import base64

        def data(p: str) -> str:
            return base64.b64encode((lay.pki / p).read_bytes()).decode()

        cluster = {"server": lay.server, "certificate-authority-data": data("ca.crt")}
        creds = {
            "client-certificate-data": data(f"{user}.crt"),
            "client-key-data": data(f"{user}.key"),
        }
    else:
        cluster = {"server": lay.server, "certificate-authority": str(lay.pki / "ca.crt")}
        creds = {
            "client-certificate": str(lay.pki / f"{user}.crt"),
            "client-key": str(lay.pki / f"{user}.key"),
        }
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "modelpilot-local", "cluster": cluster}],
        "users": [{"name": user, "user": creds}],
        "contexts": [
            {"name": "modelpilot-local", "context": {"cluster": "modelpilot-local", "user": user}}
        ],
        "current-context": "modelpilot-local",
    }
    return json.dumps(cfg, indent=2) + "\n"  # JSON is YAML; no extra dependency.


def write_configs(lay: Layout) -> None:
    pki.ensure_pki(
        lay.pki,
        apiserver_ips=(lay.bridge_ip, "127.0.0.1", lay.kubernetes_service_ip),
        node_name=lay.node_name,
    )
    lay.kubeconfig.write_text(_kubeconfig(lay, "admin", embed=True))
    lay.kubeconfig.chmod(0o600)
    for user in ("controller-manager", "scheduler", "nodeagent"):
        path = lay.pki / f"{user}.kubeconfig"
        path.write_text(_kubeconfig(lay, user, embed=False))
        path.chmod(0o600)


# ---------------------------------------------------------------------------- network


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def ensure_bridge(lay: Layout) -> None:
    """The pod bridge; its address is the node's InternalIP and the apiserver's."""
    if _ip("link", "show", lay.bridge, check=False).returncode != 0:
        _ip("link", "add", lay.bridge, "type", "bridge")
        (lay.run / "bridge").write_text(lay.bridge + "\n")
    prefix = lay.pod_cidr.split("/")[1]
    if f" {lay.bridge_ip}/" not in _ip("-o", "addr", "show", "dev", lay.bridge).stdout:
        _ip("addr", "add", f"{lay.bridge_ip}/{prefix}", "dev", lay.bridge)
    _ip("link", "set", lay.bridge, "up")
    # Safety net, deliberately left in place by `down`: with the bridge gone (or a ClusterIP
    # not yet assigned) traffic for the pod and service ranges would follow the default route
    # off this machine. The bridge's own /24 and the /32 ClusterIPs are more specific.
    for net in LOCAL_ONLY:
        _ip("route", "replace", "unreachable", net, check=False)


# The pod networks (10.244.N.0/24) and service ranges (10.(96+N).0.0/16) of every index.
LOCAL_ONLY = ("10.244.0.0/16", "10.96.0.0/12")


# ---------------------------------------------------------------------------- components


def _etcd_argv(lay: Layout) -> list[str]:
    peer = f"http://127.0.0.1:{lay.etcd_peer_port}"
    return [
        str(lay.bin / "etcd"),
        "--name=local",
        f"--data-dir={lay.dir / 'etcd'}",
        f"--listen-client-urls={lay.etcd_url}",
        f"--advertise-client-urls={lay.etcd_url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=local={peer}",
        "--initial-cluster-state=new",
        "--unsafe-no-fsync",
        "--log-level=warn",
        "--quota-backend-bytes=4294967296",
    ]


def _apiserver_argv(lay: Layout) -> list[str]:
    p = lay.pki
    return [
        str(lay.bin / "kube-apiserver"),
        f"--etcd-servers={lay.etcd_url}",
        f"--bind-address={lay.bridge_ip}",
        f"--advertise-address={lay.bridge_ip}",
        f"--secure-port={lay.apiserver_port}",
        f"--tls-cert-file={p / 'apiserver.crt'}",
        f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={p / 'sa.pub'}",
        f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--service-cluster-ip-range={lay.service_cidr}",
        # No kube-proxy fronts the `kubernetes` Service here: pods are pointed at the bridge
        # address directly, so the endpoint reconciler has nothing useful to do.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={p / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={p / 'front-proxy-client.key'}",
        "--profiling=false",
    ]


def _controller_manager_argv(lay: Layout) -> list[str]:
    p, kc = lay.pki, lay.pki / "controller-manager.kubeconfig"
    return [
        str(lay.bin / "kube-controller-manager"),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--root-ca-file={p / 'ca.crt'}",
        f"--service-account-private-key-file={p / 'sa.key'}",
        f"--cluster-signing-cert-file={p / 'ca.crt'}",
        f"--cluster-signing-key-file={p / 'ca.key'}",
        f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
        f"--client-ca-file={p / 'ca.crt'}",
        f"--service-cluster-ip-range={lay.service_cidr}",
        "--leader-elect=false",
        # Notice a Ready node (and lift its not-ready taint) within a second, not five.
        "--node-monitor-period=1s",
        "--bind-address=127.0.0.1",
        f"--secure-port={lay.controller_manager_port}",
        "--profiling=false",
    ]


def _scheduler_argv(lay: Layout) -> list[str]:
    p, kc = lay.pki, lay.pki / "scheduler.kubeconfig"
    return [
        str(lay.bin / "kube-scheduler"),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
        f"--client-ca-file={p / 'ca.crt'}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={lay.scheduler_port}",
        "--profiling=false",
    ]


def _kubectl(lay: Layout, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(lay.bin / "kubectl"), f"--kubeconfig={lay.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def _apply_bootstrap(lay: Layout) -> None:
    manifest = Path(__file__).with_name("bootstrap.yaml").read_text()
    for _ in range(50):
        res = _kubectl(
            lay, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=manifest
        )
        if res.returncode == 0:
            return
        time.sleep(0.2)
    raise StartupError(
        f"applying {Path(__file__).with_name('bootstrap.yaml')} failed:\n{res.stderr}"
    )


def _wipe_state(lay: Layout) -> None:
    _unmount_under(lay.dir / "kubelet")
    # containerd's root (imported images) stays: importing them again takes a minute.
    for sub in ("etcd", "volumes", "run", "kubelet", "pod-logs", "cni"):
        shutil.rmtree(lay.dir / sub, ignore_errors=True)
    shutil.rmtree(lay.logs, ignore_errors=True)


def up(lay: Layout, *, out=sys.stdout) -> float:
    """Start whatever is not running; returns the seconds it took."""
    start = time.monotonic()
    missing = [
        b
        for b in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        if not (lay.bin / b).exists()
    ]
    if missing:
        raise StartupError(f"missing binaries {missing} in {lay.bin}; run `make k8s-bin`")
    missing = [
        b
        for b in ("kubelet", "containerd", "containerd-shim-runc-v2", "ctr", "runc")
        if not (lay.bin / b).exists()
    ]
    if missing:
        raise StartupError(f"missing {missing} in {lay.bin}; run `make node-bin`")
    if not (lay.bin / "registry").exists():
        raise StartupError(f"missing registry in {lay.bin}; run `make registry-bin`")
    if healthy(lay):
        _import_images(lay)  # images rebuilt since: the running node gets them too
        _up_registry(lay)
        return time.monotonic() - start
    running = [c for c in COMPONENTS if recorded_pid(lay.run, c)]
    if not running:
        down(lay, quiet=True)  # sweep leftovers of a crashed run (containers, shims, mounts)
        _wipe_state(lay)
    for d in (lay.dir, lay.run, lay.logs):
        d.mkdir(parents=True, exist_ok=True)
    write_configs(lay)
    ensure_bridge(lay)

    if not recorded_pid(lay.run, "etcd"):
        _spawn(lay, "etcd", _etcd_argv(lay))
    _wait(lay, "etcd", lambda: etcd_healthy(lay), 30)
    if not recorded_pid(lay.run, "kube-apiserver"):
        _spawn(lay, "kube-apiserver", _apiserver_argv(lay))
    _wait(lay, "kube-apiserver", lambda: apiserver_ready(lay), 60)
    # Only now: started before /readyz, the controller-manager can exit on missing RBAC roles.
    for name, argv in (
        ("kube-controller-manager", _controller_manager_argv(lay)),
        ("kube-scheduler", _scheduler_argv(lay)),
    ):
        if not recorded_pid(lay.run, name):
            _spawn(lay, name, argv)
    _apply_bootstrap(lay)
    _up_real_node(lay)
    return time.monotonic() - start


def _up_registry(lay: Layout) -> None:
    """This index's registry (hack/localcluster/registry.py), and the hosts.toml that lets
    containerd pull from it; its address goes to stderr with the other progress."""
    registry.write_hosts(realnode.registries_dir(lay), lay.index)
    try:
        address = registry.up(lay.cache, lay.bin, lay.index)
    except (OSError, RuntimeError) as err:
        raise StartupError(str(err)) from err
    print(f"#   registry on {address} (MODELPILOT_REGISTRY's default)", file=sys.stderr)


def _up_real_node(lay: Layout) -> None:
    realnode.write_node_configs(lay)
    _up_registry(lay)
    realnode.ensure_cgroup_root(lay)
    env = realnode.node_env(lay)
    if not recorded_pid(lay.run, "containerd"):
        _spawn(lay, "containerd", realnode.containerd_argv(lay), env=env)
    _wait(lay, "containerd", lambda: realnode.containerd_ready(lay), 60)
    _import_images(lay)
    if not recorded_pid(lay.run, "nodeagent"):
        agent_env = {**os.environ, "PYTHONPATH": str(HACK), "PYTHONUNBUFFERED": "1"}
        agent_env.pop("KUBECONFIG", None)
        _spawn(lay, "nodeagent", realnode.services_agent_argv(lay), env=agent_env)
    if not recorded_pid(lay.run, "kubelet"):
        _spawn(lay, "kubelet", realnode.kubelet_argv(lay), env=env)
    _wait(lay, "kubelet", lambda: node_ready(lay), 120)


def _import_images(lay: Layout) -> None:
    try:
        realnode.import_images(lay, log=lambda m: print(m, file=sys.stderr))
    except (OSError, RuntimeError) as err:
        raise StartupError(str(err)) from err


def _stop_real_node_pods(lay: Layout, *, quiet: bool) -> None:
    """Let the kubelet stop every pod (CNI teardown, volume unmounts) before it stops."""
    if not (recorded_pid(lay.run, "kubelet") and recorded_pid(lay.run, "containerd")):
        return
    if recorded_pid(lay.run, "kube-apiserver"):
        _kubectl(
            lay,
            "delete",
            "pods",
            "--all",
            "--all-namespaces",
            "--grace-period=0",
            "--force",
            "--wait=false",
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        res = realnode.ctr(lay, "containers", "ls", "-q", timeout=10)
        if res.returncode != 0 or not res.stdout.strip():
            return
        time.sleep(0.5)
    if not quiet:
        print("some pod containers outlived the kubelet's grace; killing them")
    for cid in realnode.ctr(lay, "tasks", "ls", "-q", timeout=10).stdout.split():
        realnode.ctr(lay, "tasks", "kill", "--signal=SIGKILL", cid, timeout=10)


def _stop_leftover_shims(lay: Layout) -> None:
    """containerd shims of this cluster's containerd that outlived it (a pod killed late)."""
    address = f"-address {realnode.containerd_socket(lay)}"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "containerd-shim" in cmdline and address in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _unmount_under(root: Path) -> None:
    """Unmount whatever the kubelet left mounted below `root` (deepest first)."""
    mounts = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if Path(point).is_relative_to(root):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def down(lay: Layout, *, quiet: bool = False) -> None:
    """Stop exactly what `up` started, then remove the network it created."""
    _stop_real_node_pods(lay, quiet=quiet)
    for name in reversed(COMPONENTS):
        pid = recorded_pid(lay.run, name)
        if pid:
            stop_pid(pid, grace=20 if name in ("nodeagent", "containerd") else 10)
            if not quiet:
                print(f"stopped {name} (pid {pid})")
        (lay.run / f"{name}.pid").unlink(missing_ok=True)
    _unmount_under(lay.dir / "kubelet")
    _stop_leftover_shims(lay)
    registry.down(lay.cache, lay.index)  # what it holds stays, for the next up
    _unmount_under(lay.dir / "containerd" / "state")
    bridge_file = lay.run / "bridge"
    if bridge_file.exists():
        _ip("link", "delete", bridge_file.read_text().strip(), check=False)
        bridge_file.unlink()


@contextlib.contextmanager
def locked(lay: Layout):
    """Serialise `up` and `down`: several test sessions may share one cluster."""
    lay.cache.mkdir(parents=True, exist_ok=True)
    with open(lay.cache / f"{lay.dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def status(lay: Layout) -> dict[str, int | None]:
    return {c: recorded_pid(lay.run, c) for c in COMPONENTS}
