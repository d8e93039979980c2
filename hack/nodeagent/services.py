"""Services for the pod network: a userspace kube-proxy for ClusterIPs and a tiny cluster DNS.

There is no kube-proxy here, so the agent plays one the way the original userspace proxier
did: each ClusterIP becomes an address on the node's bridge (pods reach it through their
default route, this host directly), and a listener on every Service port forwards each TCP
connection to one ready endpoint picked at random from the Service's EndpointSlices — the
same per-connection spreading kube-proxy's iptables mode gives. The `kubernetes` Service is
forwarded to the API server (its endpoint reconciler is off). A DNS responder on the bridge
address answers A queries for `NAME.NAMESPACE.svc.cluster.local` (headless Services: the
ready endpoints) and NXDOMAIN for everything else, since nothing may leave this machine.
UDP Services, NodePorts and session affinity are not supported.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import socket
import struct
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from nodeagent.kube import Informer, Kube

log = logging.getLogger(__name__)
DOMAIN = "cluster.local"


@dataclass(frozen=True)
class ServicePort:
    namespace: str
    service: str
    cluster_ip: str
    port: int
    backends: tuple[tuple[str, int], ...]


def service_table(
    services: list[dict], slices: list[dict], *, apiserver: tuple[str, int]
) -> tuple[list[ServicePort], dict[str, list[str]]]:
    """(TCP ports to proxy, DNS name -> addresses) from Services and EndpointSlices (pure)."""
    ready: dict[tuple[str, str], list[tuple[dict, list[str]]]] = {}
    for s in slices:
        owner = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
        if not owner:
            continue
        addrs = [
            a
            for ep in s.get("endpoints") or []
            if (ep.get("conditions") or {}).get("ready", True)
            for a in ep["addresses"]
        ]
        ready.setdefault((s["metadata"]["namespace"], owner), []).append(
            ({p.get("name") or "": p.get("port") for p in s.get("ports") or []}, addrs)
        )
    ports: list[ServicePort] = []
    names: dict[str, list[str]] = {}
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        cluster_ip = spec.get("clusterIP") or ""
        fqdn = f"{name}.{ns}.svc.{DOMAIN}"
        if spec.get("type") == "ExternalName":
            continue
        if cluster_ip in ("", "None"):
            names[fqdn] = sorted({a for _, addrs in ready.get((ns, name), []) for a in addrs})
            continue
        names[fqdn] = [cluster_ip]
        for sp in spec.get("ports") or []:
            if sp.get("protocol", "TCP") != "TCP":
                continue
            if (ns, name) == ("default", "kubernetes"):
                backends: tuple[tuple[str, int], ...] = (apiserver,)
            else:
                backends = tuple(
                    (addr, port_map[sp.get("name") or ""])
                    for port_map, addrs in ready.get((ns, name), [])
                    if port_map.get(sp.get("name") or "")
                    for addr in addrs
                )
            ports.append(ServicePort(ns, name, cluster_ip, int(sp["port"]), backends))
    return ports, names


# ------------------------------------------------------------------------------------ DNS


def dns_answer(query: bytes, names: Mapping[str, list[str]]) -> bytes | None:
    """The response to one DNS query packet (pure); None when it is not a query we parse."""
    if len(query) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", query[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels, i = [], 12
    while i < len(query) and query[i] != 0:
        n = query[i]
        labels.append(query[i + 1 : i + 1 + n].decode("ascii", errors="replace").lower())
        i += 1 + n
    if i + 5 > len(query):
        return None
    qtype, qclass = struct.unpack("!HH", query[i + 1 : i + 5])
    question = query[12 : i + 5]
    name = ".".join(labels)
    addrs = names.get(name)
    rd = flags & 0x0100
    if addrs is None:
        return struct.pack("!HHHHHH", qid, 0x8080 | rd | 3, 1, 0, 0, 0) + question
    answers = b""
    count = 0
    if qtype in (1, 255) and qclass == 1:
        for addr in addrs:
            answers += struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(addr)
            count += 1
    return struct.pack("!HHHHHH", qid, 0x8480 | rd, 1, count, 0, 0) + question + answers


# ------------------------------------------------------------------------------------ proxy


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class _Listener:
    def __init__(self, proxy: ServiceProxy, key: tuple[str, int]):
        self.proxy, self.key = proxy, key
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(key)
        self.sock.listen(128)
        threading.Thread(target=self._accept, name=f"svc-{key[0]}:{key[1]}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        backends = self.proxy.backends(self.key)
        random.shuffle(backends := list(backends))
        upstream = None
        for addr in backends:
            try:
                upstream = socket.create_connection(addr, timeout=3)
                upstream.settimeout(None)
                break
            except OSError:
                continue
        if upstream is None:
            client.close()
            return
        t = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        t.start()
        _pipe(client, upstream)
        t.join()
        client.close()
        upstream.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class ServiceProxy(threading.Thread):
    def __init__(
        self,
        kube: Kube,
        *,
        bridge: str,
        dns_address: str,
        service_cidr: str,
        apiserver: tuple[str, int],
        stop: threading.Event,
    ):
        super().__init__(name="service-proxy", daemon=True)
        self.kube, self.bridge, self.stop = kube, bridge, stop
        self.dns_address = dns_address
        self.service_net = ipaddress.ip_network(service_cidr)
        self.apiserver = apiserver
        self._table: dict[tuple[str, int], tuple[tuple[str, int], ...]] = {}
        self._names: dict[str, list[str]] = {}
        self._listeners: dict[tuple[str, int], _Listener] = {}
        self._addresses: set[str] = set()

    def backends(self, key: tuple[str, int]) -> tuple[tuple[str, int], ...]:
        return self._table.get(key, ())

    def _bridge_addresses(self) -> set[str]:
        out = subprocess.run(
            ["ip", "-o", "-4", "addr", "show", "dev", self.bridge],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        found = set()
        for line in out.splitlines():
            addr = line.split()[3].split("/")[0]
            if ipaddress.ip_address(addr) in self.service_net:
                found.add(addr)
        return found

    def _set_address(self, addr: str, present: bool) -> None:
        subprocess.run(
            ["ip", "addr", "add" if present else "del", f"{addr}/32", "dev", self.bridge],
            capture_output=True,
            check=False,
        )

    def sync(self) -> None:
        services, slices = self._services.items(), self._slices.items()
        ports, names = service_table(services, slices, apiserver=self.apiserver)
        self._table = {(p.cluster_ip, p.port): p.backends for p in ports}
        self._names = names
        wanted = {p.cluster_ip for p in ports}
        for addr in wanted - self._addresses:
            self._set_address(addr, True)
        for key in set(self._listeners) - set(self._table):
            self._listeners.pop(key).close()
        for addr in self._addresses - wanted:
            self._set_address(addr, False)
        self._addresses = wanted
        for key in set(self._table) - set(self._listeners):
            try:
                self._listeners[key] = _Listener(self, key)
            except OSError as err:
                log.warning("cannot listen on service %s:%s: %s", *key, err)

    def _dns(self, sock: socket.socket) -> None:
        while not self.stop.is_set():
            try:
                query, peer = sock.recvfrom(512)
                answer = dns_answer(query, self._names)
                if answer:
                    sock.sendto(answer, peer)
            except OSError as err:
                log.debug("dns: %s", err)

    def run(self) -> None:
        for addr in self._bridge_addresses():  # left by an earlier agent
            self._set_address(addr, False)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((self.dns_address, 53))
            threading.Thread(target=self._dns, args=(sock,), name="dns", daemon=True).start()
        except OSError as err:
            log.warning("cluster DNS disabled: %s", err)
        changed = threading.Event()
        self._services = Informer(self.kube, "/api/v1/services", changed).start(self.stop)
        self._slices = Informer(
            self.kube, "/apis/discovery.k8s.io/v1/endpointslices", changed
        ).start(self.stop)
        while not self.stop.is_set():
            if changed.wait(1.0):
                changed.clear()
                if self._services.synced.is_set() and self._slices.synced.is_set():
                    try:
                        self.sync()
                    except Exception as err:
                        log.warning("service proxy: %s", err)
                        changed.set()
                        self.stop.wait(1.0)
        for listener in self._listeners.values():
            listener.close()
        for addr in self._addresses:
            self._set_address(addr, False)
