"""`modelpilot version`: this client's version, and the running operator's when it is reachable.

The operator's version is what the operator itself reports (`modelpilot_build_info` on its
/metrics, read through the API server's pod proxy, as `istioctl version` asks its control
plane), not a label a chart wrote: an image overridden by hand still answers truthfully.
Reaching it needs `get pods` and `get pods/proxy`; without them, or without a cluster, the
client's version is printed alone with the reason, and the exit code stays 0.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelpilot.api.version import installed_version

# The labels both the chart and manifests/ put on the operator's pods.
OPERATOR_SELECTOR = "app.kubernetes.io/name=modelpilot,app.kubernetes.io/component=operator"
_BUILD_INFO = re.compile(
    r'^modelpilot_build_info\{[^}]*version="([^"]+)"[^}]*\}\s+1(?:\.0)?\s*$', re.MULTILINE
)


@dataclass(frozen=True)
class OperatorVersion:
    """One operator pod's answer: its version, or why there is none."""

    namespace: str
    pod: str
    version: str | None
    error: str | None = None


def version_from_metrics(text: str) -> str | None:
    """The version in a /metrics page's `modelpilot_build_info`; None when absent."""
    match = _BUILD_INFO.search(text)
    return match.group(1) if match else None


def render(client: str, operators: Sequence[OperatorVersion], reach_error: str | None) -> str:
    lines = [f"client:   {client}"]
    if reach_error is not None:
        lines.append(f"operator: unknown ({reach_error})")
    elif not operators:
        lines.append("operator: not found (no pod labelled " + OPERATOR_SELECTOR + ")")
    for op in operators:
        answer = op.version or f"unknown ({op.error or 'no modelpilot_build_info'})"
        lines.append(f"operator: {answer}  ({op.namespace}/{op.pod})")
    return "\n".join(lines)


def _ask_operators(args: argparse.Namespace) -> list[OperatorVersion]:
    from kubernetes import client, config  # the CLI's one cluster dependency, imported late

    config.load_kube_config(config_file=args.kubeconfig, context=args.context)
    core: Any = client.CoreV1Api()  # its models are Optional everywhere; the API says not
    if args.namespace:
        pods: Any = core.list_namespaced_pod(args.namespace, label_selector=OPERATOR_SELECTOR)
    else:
        pods = core.list_pod_for_all_namespaces(label_selector=OPERATOR_SELECTOR)
    found = []
    for pod in pods.items:
        meta = pod.metadata
        if pod.status.phase != "Running":
            found.append(OperatorVersion(meta.namespace, meta.name, None, pod.status.phase))
            continue
        port = _http_port(pod)
        try:
            page = core.connect_get_namespaced_pod_proxy_with_path(
                f"{meta.name}:{port}", meta.namespace, "metrics", _request_timeout=5
            )
        except client.ApiException as error:
            found.append(
                OperatorVersion(
                    meta.namespace,
                    meta.name,
                    None,
                    f"pod proxy: HTTP {error.status} {error.reason}",
                )
            )
            continue
        found.append(OperatorVersion(meta.namespace, meta.name, version_from_metrics(page)))
    return found


def _http_port(pod: Any) -> int:
    for container in pod.spec.containers:
        for port in container.ports or []:
            if port.name == "http":
                return int(port.container_port)
    return 8080


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="modelpilot version", description=__doc__.splitlines()[0])
    parser.add_argument("--client", action="store_true", help="print the client's version only")
    parser.add_argument("-n", "--namespace", help="the operator's namespace; default: all")
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, then ~/.kube/config")
    parser.add_argument("--context", help="kubeconfig context to use")
    args = parser.parse_args(argv)
    if args.client:
        print(installed_version())
        return 0
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError

    operators: list[OperatorVersion] = []
    reach_error = None
    try:
        operators = _ask_operators(args)
    except (ConfigException, ApiException, HTTPError, OSError) as error:
        # No kubeconfig, no cluster, forbidden: the client's version is still the answer.
        first_line = (str(error).strip().splitlines() or [""])[0]
        reach_error = f"{type(error).__name__}: {first_line}"
    print(render(installed_version(), operators, reach_error))
    return 0
