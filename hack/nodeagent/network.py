"""Pod networking: one network namespace per pod, a veth pair onto the node's bridge, and an
address from the node's pod CIDR.

The bridge address is the pod's default gateway and also where the API server listens, so
pods reach the control plane without any NAT. Nothing is routed beyond this machine.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import subprocess
import threading

log = logging.getLogger(__name__)


class NetworkError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res


def names_for(uid: str) -> tuple[str, str]:
    """(netns name, host-side veth name) for a pod; veth names must fit in 15 bytes."""
    digest = hashlib.sha1(uid.encode()).hexdigest()[:10]
    return f"mp-{digest}", f"mpv{digest}"


class PodNetwork:
    def __init__(self, *, bridge: str, bridge_ip: str, pod_cidr: str):
        self.bridge = bridge
        self.gateway = bridge_ip
        self.net = ipaddress.ip_network(pod_cidr)
        self._used: set[str] = {bridge_ip}
        self._last = bridge_ip  # round-robin cursor
        self._lock = threading.Lock()

    def ensure_bridge(self) -> None:
        if _ip("link", "show", self.bridge, check=False).returncode != 0:
            _ip("link", "add", self.bridge, "type", "bridge")
        if f" {self.gateway}/" not in _ip("-o", "addr", "show", "dev", self.bridge).stdout:
            _ip("addr", "add", f"{self.gateway}/{self.net.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def _allocate(self) -> str:
        """The next free address after the last one given out, as host-local IPAM does.

        Handing a just-released address straight to the next pod left the host's neighbour
        (ARP) entry pointing at the old pod's veth: probes to the new pod timed out for ~30 s.
        """
        with self._lock:
            hosts = [str(h) for h in self.net.hosts()]
            start = hosts.index(self._last) + 1 if self._last in hosts else 0
            for addr in hosts[start:] + hosts[:start]:
                if addr not in self._used:
                    self._used.add(addr)
                    self._last = addr
                    return addr
        raise NetworkError(f"pod CIDR {self.net} is exhausted")

    def claim(self, addr: str) -> None:
        """Mark an address in use (a pod adopted from an earlier agent keeps its IP)."""
        with self._lock:
            self._used.add(addr)

    def release(self, addr: str | None) -> None:
        with self._lock:
            if addr and addr != self.gateway:
                self._used.discard(addr)

    def setup(self, uid: str) -> tuple[str, str]:
        """Create the pod's namespace and interface; returns (netns name, pod IP)."""
        netns, veth = names_for(uid)
        self.teardown(netns)
        addr = self._allocate()
        try:
            _ip("netns", "add", netns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
            _ip("link", "set", veth, "master", self.bridge, "up")
            batch = (
                f"addr add {addr}/{self.net.prefixlen} dev eth0\n"
                "link set eth0 up\nlink set lo up\n"
                f"route add default via {self.gateway}\n"
            )
            res = subprocess.run(
                ["ip", "-n", netns, "-batch", "-"],
                input=batch,
                capture_output=True,
                text=True,
                check=False,
            )
            if res.returncode != 0:
                raise NetworkError(f"configuring {netns}: {res.stderr.strip()}")
            # After a wrap-around the address may still be cached for an old pod's MAC.
            _ip("neigh", "flush", "to", addr, "dev", self.bridge, check=False)
        except Exception:
            self.teardown(netns)
            self.release(addr)
            raise
        return netns, addr

    @staticmethod
    def teardown(netns: str) -> None:
        """Delete the namespace (its veth goes with it once no process holds it)."""
        veth = "mpv" + netns.removeprefix("mp-")
        _ip("link", "delete", veth, check=False)
        _ip("netns", "delete", netns, check=False)
