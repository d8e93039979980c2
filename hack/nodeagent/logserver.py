"""The kubelet's read-only log endpoint, so `kubectl logs` works against the local node.

The API server proxies `kubectl logs` to `https://<node InternalIP>:<kubelet port>/containerLogs/
NS/POD/CONTAINER`, authenticating with its kubelet client certificate; this server requires a
certificate from the cluster CA and serves the container's log file (follow, tailLines,
limitBytes and previous are honoured; timestamps are not recorded).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

log = logging.getLogger(__name__)

# (namespace, pod, container, previous) -> (log file or None, is the container still running)
LogLocator = Callable[[str, str, str, bool], tuple[Path | None, Callable[[], bool]]]


def tail(data: bytes, lines: int) -> bytes:
    if lines < 0:
        return data
    if lines == 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


def make_handler(locate: LogLocator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args) -> None:  # quiet: the agent log is for pods
            log.debug(fmt, *args)

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if parts == ["healthz"]:
                return self._send(200, b"ok")
            if len(parts) != 4 or parts[0] != "containerLogs":
                return self._send(404, b"not found")
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            previous = query.get("previous") == "true"
            path, running = locate(parts[1], parts[2], parts[3], previous)
            if path is None or not path.exists():
                return self._send(
                    404, f"no logs for container {parts[3]} of pod {parts[1]}/{parts[2]}".encode()
                )
            data = path.read_bytes()
            if "tailLines" in query:
                data = tail(data, int(query["tailLines"]))
            limit = int(query.get("limitBytes", 0) or 0)
            if limit:
                data = data[:limit]
            if query.get("follow") != "true" or previous:
                return self._send(200, data)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            offset = path.stat().st_size
            try:
                self._chunk(data)
                while True:
                    size = path.stat().st_size
                    if size > offset:
                        with path.open("rb") as f:
                            f.seek(offset)
                            chunk = f.read(size - offset)
                        offset = size
                        self._chunk(chunk)
                    elif not running():
                        break
                    else:
                        time.sleep(0.2)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _chunk(self, data: bytes) -> None:
            if data:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

    return Handler


def serve(*, address: str, port: int, pki: Path, locate: LogLocator) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((address, port), make_handler(locate))
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki / "kubelet-serving.crt"), str(pki / "kubelet-serving.key"))
    ctx.load_verify_locations(str(pki / "ca.crt"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="logserver", daemon=True).start()
    return server
