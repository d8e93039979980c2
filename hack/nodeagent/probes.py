"""httpGet, tcpSocket and exec probes, run from the host against the pod's IP.

exec probes enter the container's namespaces with nsenter. gRPC probes are not supported and
count as success (logged once per container), so a pod that uses one still becomes Ready.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
from collections.abc import Mapping


def resolve_port(port: int | str, container: Mapping) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"no containerPort named {port!r}")


def run_probe(
    probe: Mapping, *, pod_ip: str, container: Mapping, pid: int | None
) -> tuple[bool, str]:
    """Run `probe` once; returns (success, message for events when it failed)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "httpGet" in probe:
            h = probe["httpGet"]
            port = resolve_port(h["port"], container)
            host = h.get("host") or pod_ip
            if h.get("scheme", "HTTP").upper() == "HTTPS":
                ctx = ssl._create_unverified_context()
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, port, timeout=timeout, context=ctx
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            headers = {hd["name"]: hd["value"] for hd in h.get("httpHeaders") or []}
            headers.setdefault("User-Agent", "kube-probe/1.37")
            try:
                conn.request("GET", h.get("path", "/"), headers=headers)
                status = conn.getresponse().status
            finally:
                conn.close()
            if 200 <= status < 400:
                return True, ""
            return False, f"HTTP probe failed with statuscode: {status}"
        if "tcpSocket" in probe:
            t = probe["tcpSocket"]
            port = resolve_port(t["port"], container)
            with socket.create_connection((t.get("host") or pod_ip, port), timeout=timeout):
                return True, ""
        if "exec" in probe:
            if pid is None:
                return False, "container is not running"
            cmd = ["nsenter", "-t", str(pid), "-n", "-m", "-u", "--", *probe["exec"]["command"]]
            res = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
            if res.returncode == 0:
                return True, ""
            out = (res.stdout + res.stderr).decode(errors="replace").strip()[-500:]
            return False, f"command exited {res.returncode}: {out}"
        return True, "unsupported probe type; assumed healthy"
    except (OSError, ValueError, http.client.HTTPException, subprocess.TimeoutExpired) as err:
        return False, f"probe failed: {err}"
