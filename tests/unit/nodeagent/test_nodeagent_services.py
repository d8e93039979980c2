"""Services -> proxy table and DNS answers (the node agent's userspace kube-proxy and DNS)."""

from __future__ import annotations

import socket
import struct

from nodeagent.services import ServicePort, dns_answer, service_table

APISERVER = ("10.244.0.1", 6443)


def svc(name: str, cluster_ip: str, ports: list[dict], ns: str = "ml") -> dict:
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": cluster_ip, "ports": ports},
    }


def eps(service: str, addrs: dict[str, bool], ports: list[dict], ns: str = "ml") -> dict:
    return {
        "metadata": {"namespace": ns, "labels": {"kubernetes.io/service-name": service}},
        "ports": ports,
        "endpoints": [{"addresses": [a], "conditions": {"ready": r}} for a, r in addrs.items()],
    }


def test_only_ready_endpoints_of_the_matching_port_are_backends() -> None:
    services = [
        svc("iris", "10.96.0.10", [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}])
    ]
    slices = [
        eps(
            "iris",
            {"10.244.0.5": True, "10.244.0.6": False},
            [{"name": "http", "port": 8080}, {"name": "metrics", "port": 8081}],
        )
    ]
    ports, names = service_table(services, slices, apiserver=APISERVER)
    assert ports == [
        ServicePort("ml", "iris", "10.96.0.10", 80, (("10.244.0.5", 8080),)),
        ServicePort("ml", "iris", "10.96.0.10", 9090, (("10.244.0.5", 8081),)),
    ]
    assert names == {"iris.ml.svc.cluster.local": ["10.96.0.10"]}


def test_kubernetes_service_forwards_to_the_apiserver() -> None:
    services = [svc("kubernetes", "10.96.0.1", [{"name": "https", "port": 443}], ns="default")]
    ports, _ = service_table(services, [], apiserver=APISERVER)
    assert ports == [ServicePort("default", "kubernetes", "10.96.0.1", 443, (APISERVER,))]


def test_headless_services_resolve_to_ready_endpoints() -> None:
    services = [svc("db", "None", [{"port": 5432}])]
    slices = [
        eps("db", {"10.244.0.9": True, "10.244.0.8": True, "10.244.0.7": False}, [{"port": 5432}])
    ]
    ports, names = service_table(services, slices, apiserver=APISERVER)
    assert ports == []
    assert names == {"db.ml.svc.cluster.local": ["10.244.0.8", "10.244.0.9"]}


def query(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return (
        struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", qtype, 1)
    )


def test_dns_answers_a_records_for_known_names() -> None:
    answer = dns_answer(
        query("iris.ml.svc.cluster.local"), {"iris.ml.svc.cluster.local": ["10.96.0.10"]}
    )
    assert answer is not None
    qid, flags, _qd, ancount = struct.unpack("!HHHH", answer[:8])
    assert (qid, flags & 0xF, ancount) == (0x1234, 0, 1)
    assert socket.inet_ntoa(answer[-4:]) == "10.96.0.10"


def test_dns_says_nxdomain_for_everything_else_at_once() -> None:
    answer = dns_answer(query("pypi.org"), {})
    assert answer is not None
    assert struct.unpack("!HH", answer[:4])[1] & 0xF == 3


def test_dns_aaaa_for_a_known_name_is_empty_not_an_error() -> None:
    answer = dns_answer(
        query("iris.ml.svc.cluster.local", qtype=28), {"iris.ml.svc.cluster.local": ["10.96.0.10"]}
    )
    _qid, flags, _qd, ancount = struct.unpack("!HHHH", answer[:8])
    assert (flags & 0xF, ancount) == (0, 0)
