"""`modelpilot dashboard`: a local web page over the user's kubeconfig, like Argo Rollouts'.

It lists every ModelDeployment the user may list, and shows one model's revisions, canary
steps with live weights, analysis windows and drift per feature (dashboard_page.py draws
them). Its Promote and Abort buttons set the same annotations as `modelpilot promote` and
`modelpilot abort`, with the user's own credentials: what RBAC forbids them on the command
line, it forbids here, and the page says which verb on which resource was refused.

Served by the standard library on loopback only (the CLI must work with nothing but the
kubernetes client installed; no kopf, sklearn or fastapi here — an import-linter contract
says so). Because any web page the user visits could send requests to localhost, an action
needs the random token the model's page carries, and requests whose Host is not the address
served are refused (DNS rebinding).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import unquote

from modelpilot.api import names
from modelpilot.cli import dashboard_page as html

DEFAULT_PORT = 3100  # Argo Rollouts' dashboard's port, for familiarity
ACTIONS = ("promote", "promote-full", "abort")


class Models(Protocol):
    """What the dashboard reads and writes: ModelDeployments, as the user may."""

    def list_all(self) -> list[dict[str, Any]]: ...

    def get(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def annotate(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        """Raises PermissionError (with what was refused) or LookupError."""
        ...


class KubeModels:
    """Models through the user's kubeconfig (the CLI's KubernetesCluster)."""

    def __init__(self, cluster: Any, namespace: str | None) -> None:
        self._cluster, self._namespace = cluster, namespace

    def list_all(self) -> list[dict[str, Any]]:
        from modelpilot.operator.errors import ApiError

        base = f"/apis/{names.GROUP}/{names.VERSION}"
        where = f"/namespaces/{self._namespace}" if self._namespace else ""
        try:
            answer = self._cluster.request("GET", f"{base}{where}/{names.PLURAL}")
        except ApiError as exc:
            if exc.status == HTTPStatus.FORBIDDEN:
                scope = (
                    f"in namespace {self._namespace}"
                    if self._namespace
                    else ("across all namespaces (try `modelpilot dashboard -n NAMESPACE`)")
                )
                raise PermissionError(
                    f"forbidden: you may not list modeldeployments.{names.GROUP} {scope}"
                ) from exc
            raise
        return list(answer.get("items", []))

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        body: dict[str, Any] | None = self._cluster.get(names.KIND, namespace, name)
        return body

    def annotate(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        from modelpilot.operator.errors import ApiError, NotFound

        try:
            self._cluster.patch(
                names.KIND, namespace, name, {"metadata": {"annotations": dict(annotations)}}
            )
        except NotFound as exc:
            raise LookupError(f"modeldeployment {namespace}/{name} not found") from exc
        except ApiError as exc:
            if exc.status == HTTPStatus.FORBIDDEN:
                raise PermissionError(
                    f"forbidden: you may not patch modeldeployments.{names.GROUP} in namespace "
                    f"{namespace} ({exc})"
                ) from exc
            raise


def action_annotations(action: str, now: datetime) -> dict[str, str]:
    """The annotations `modelpilot promote [--full]` / `abort` set, stamped `now`."""
    stamp = now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if action == "abort":
        return {names.ANNOTATION_ABORT: stamp}
    full = "true" if action == "promote-full" else "false"
    return {names.ANNOTATION_PROMOTE: stamp, names.ANNOTATION_PROMOTE_FULL: full}


def route(path: str) -> tuple[str, ...]:
    """URL path -> its unquoted parts: ('models', NS, NAME[, ACTION]) or ()."""
    return tuple(unquote(part) for part in path.split("?")[0].strip("/").split("/") if part)


def make_handler(models: Models, *, token: str, hosts: frozenset[str]) -> type:  # noqa: C901 (the handler class's routes are counted as one function)
    """The request handler class for one dashboard (bound to its models, token and hosts)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "modelpilot-dashboard"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the terminal shows the URL; requests every 1.5 s would drown it

        def _send(self, code: int, text: str, content_type: str = "text/html") -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _trusted_host(self) -> bool:
            if self.headers.get("Host", "") in hosts:
                return True
            self._send(HTTPStatus.FORBIDDEN, "unexpected Host", "text/plain")
            return False

        def do_GET(self) -> None:
            if not self._trusted_host():
                return
            parts = route(self.path)
            try:
                if parts == ():
                    self._send(HTTPStatus.OK, html.index(models.list_all(), html.now_utc()))
                elif len(parts) == 3 and parts[0] == "models":
                    body = models.get(parts[1], parts[2])
                    if body is None:
                        self._send(HTTPStatus.NOT_FOUND, html.not_found("/".join(parts[1:])))
                    else:
                        self._send(HTTPStatus.OK, html.model(body, token=token))
                else:
                    self._send(HTTPStatus.NOT_FOUND, html.not_found(self.path))
            except PermissionError as exc:
                self._send(HTTPStatus.FORBIDDEN, html.problem(str(exc)))
            except Exception as exc:  # the page says it, escaped; the server goes on
                said = f"the cluster did not answer: {exc}"
                self._send(HTTPStatus.BAD_GATEWAY, html.problem(said))

        def do_POST(self) -> None:
            if not self._trusted_host():
                return
            parts = route(self.path)
            if len(parts) != 4 or parts[0] != "models" or parts[3] not in ACTIONS:
                self._send(HTTPStatus.NOT_FOUND, "no such action", "text/plain")
                return
            if not secrets.compare_digest(self.headers.get("X-Modelpilot-Token", ""), token):
                self._send(HTTPStatus.FORBIDDEN, "missing or wrong page token", "text/plain")
                return
            _, namespace, name, action = parts
            self._send(*act(models, namespace, name, action, now=datetime.now(UTC)), "text/plain")

    return Handler


def act(
    models: Models, namespace: str, name: str, action: str, *, now: datetime
) -> tuple[int, str]:
    """Ask for `action` on a running canary: (HTTP status, what to tell the user)."""
    from modelpilot.api.status import Phase, parse_status

    body = models.get(namespace, name)
    if body is None:
        return HTTPStatus.NOT_FOUND, f"modeldeployment {namespace}/{name} not found"
    phase = parse_status(body.get("status")).phase
    if phase is not Phase.CANARY:
        return HTTPStatus.CONFLICT, f"{name} is {phase}, not in a canary: nothing to {action}"
    annotations = action_annotations(action, now)
    try:
        models.annotate(namespace, name, annotations)
    except PermissionError as exc:
        return HTTPStatus.FORBIDDEN, str(exc)
    except LookupError as exc:
        return HTTPStatus.NOT_FOUND, str(exc)
    return HTTPStatus.OK, f"{action} requested at {next(iter(annotations.values()))}"


def serve(
    models: Models, *, address: str = "127.0.0.1", port: int = DEFAULT_PORT
) -> ThreadingHTTPServer:
    """A started dashboard server (in a daemon thread); `shutdown()` stops it."""
    token = secrets.token_urlsafe(24)
    server = ThreadingHTTPServer((address, port), BaseHTTPRequestHandler)
    bound = server.server_address[1]
    hosts = frozenset({f"{address}:{bound}", f"localhost:{bound}", f"127.0.0.1:{bound}"})
    server.RequestHandlerClass = make_handler(models, token=token, hosts=hosts)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="dashboard", daemon=True).start()
    return server


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="modelpilot dashboard",
        description="serve a web page of the ModelDeployments on this machine, acting with "
        "your kubeconfig's credentials",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s")
    parser.add_argument(
        "--address", default="127.0.0.1", help="loopback address (default: %(default)s)"
    )
    parser.add_argument("-n", "--namespace", help="only this namespace; default: all you may list")
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, then ~/.kube/config")
    parser.add_argument("--context", help="kubeconfig context to use")
    args = parser.parse_args(list(argv))
    if args.address not in {"127.0.0.1", "::1", "localhost"}:
        print("modelpilot dashboard: --address must be a loopback address", file=sys.stderr)
        return 2
    from modelpilot.cli.kube import connect

    cluster, _ = connect(
        argparse.Namespace(
            namespace=args.namespace, kubeconfig=args.kubeconfig, context=args.context
        )
    )
    try:
        server = serve(KubeModels(cluster, args.namespace), address=args.address, port=args.port)
    except OSError as exc:
        print(
            f"modelpilot dashboard: cannot listen on {args.address}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    print(
        f"modelpilot dashboard on http://{args.address}:{server.server_address[1]}/ "
        "(Ctrl-C stops it)",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
    return 0
