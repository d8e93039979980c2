"""Certificates and keys for the local control plane, made with the `openssl` CLI.

A real cluster's PKI in miniature (kubeadm's layout): one CA for clients and servers, a
front-proxy CA for the aggregation layer, and an RSA key pair for service-account tokens.
Everything is created once per cluster directory and reused by later `cluster up` runs, so a
kubeconfig handed out earlier keeps working after `cluster down` / `cluster up`.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Cert:
    """A leaf certificate to issue: `cn`/`orgs` become the Kubernetes user and groups."""

    name: str
    cn: str
    orgs: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    server: bool = False
    ca: str = "ca"


def _run(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _make_ca(pki: Path, name: str, cn: str) -> None:
    key, crt = pki / f"{name}.key", pki / f"{name}.crt"
    if crt.exists() and key.exists():
        return
    _run("genrsa", "-out", str(key), "2048")
    _run(
        "req",
        "-x509",
        "-new",
        "-key",
        str(key),
        "-sha256",
        "-days",
        "3650",
        "-subj",
        f"/CN={cn}",
        "-out",
        str(crt),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )


def _issue(pki: Path, cert: Cert) -> None:
    key, crt = pki / f"{cert.name}.key", pki / f"{cert.name}.crt"
    if crt.exists() and key.exists():
        return
    subject = "".join(f"/O={o}" for o in cert.orgs) + f"/CN={cert.cn}"
    usage = "serverAuth" if cert.server else "clientAuth"
    ext = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    sans = [f"DNS:{d}" for d in cert.dns] + [f"IP:{i}" for i in cert.ips]
    if sans:
        ext.append("subjectAltName=" + ",".join(sans))
    _run("genrsa", "-out", str(key), "2048")
    with tempfile.TemporaryDirectory() as tmp:
        csr, extfile = Path(tmp) / "req.csr", Path(tmp) / "ext.cnf"
        extfile.write_text("\n".join(ext) + "\n")
        _run("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
        _run(
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(pki / f"{cert.ca}.crt"),
            "-CAkey",
            str(pki / f"{cert.ca}.key"),
            "-CAcreateserial",
            "-sha256",
            "-days",
            "3650",
            "-extfile",
            str(extfile),
            "-out",
            str(crt),
        )


def ensure_pki(pki: Path, *, apiserver_ips: tuple[str, ...], node_name: str) -> None:
    """Create every key and certificate the control plane and the node agent use."""
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    _make_ca(pki, "ca", "modelpilot-local-ca")
    _make_ca(pki, "front-proxy-ca", "modelpilot-local-front-proxy-ca")
    leaves = (
        Cert(
            "apiserver",
            "kube-apiserver",
            server=True,
            dns=(
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                "localhost",
            ),
            ips=apiserver_ips,
        ),
        Cert("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)),
        Cert("admin", "modelpilot-admin", ("system:masters",)),
        Cert("controller-manager", "system:kube-controller-manager"),
        Cert("scheduler", "system:kube-scheduler"),
        # The node agent also provisions PersistentVolumes and finalizes pods, which the Node
        # authorizer would refuse a kubelet; it is test tooling, so it is an admin.
        Cert("nodeagent", "system:node:" + node_name, ("system:nodes", "system:masters")),
        Cert(
            "kubelet-serving",
            node_name,
            server=True,
            dns=(node_name, "localhost"),
            ips=apiserver_ips,
        ),
        Cert("front-proxy-client", "front-proxy-client", ca="front-proxy-ca"),
    )
    for leaf in leaves:
        _issue(pki, leaf)
    if not (pki / "sa.key").exists():
        _run("genrsa", "-out", str(pki / "sa.key"), "2048")
        _run("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
    for key in pki.glob("*.key"):
        key.chmod(0o600)
