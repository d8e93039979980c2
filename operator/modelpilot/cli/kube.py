"""What the people-facing verbs share: kubeconfig resolution and the -n/--namespace flag."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from modelpilot.api import names


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the ModelDeployment")
    parser.add_argument(
        "-n", "--namespace", help="its namespace; default: the kubeconfig context's namespace"
    )
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, then ~/.kube/config")
    parser.add_argument("--context", help="kubeconfig context to use")


def connect(args: argparse.Namespace) -> tuple[Any, str]:
    """(KubernetesCluster, namespace), resolved as kubectl would."""
    from kubernetes import client, config

    from modelpilot.operator.cluster import KubernetesCluster

    namespace = args.namespace
    try:
        config.load_kube_config(config_file=args.kubeconfig, context=args.context)
        if namespace is None:
            _, active = config.list_kube_config_contexts(config_file=args.kubeconfig)
            if args.context:
                contexts, _ = config.list_kube_config_contexts(config_file=args.kubeconfig)
                active = next((c for c in contexts if c["name"] == args.context), active)
            namespace = (active or {}).get("context", {}).get("namespace")
    except config.ConfigException:
        config.load_incluster_config()
        if namespace is None:
            path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
            if os.path.exists(path):
                with open(path) as handle:
                    namespace = handle.read().strip()
    return KubernetesCluster(client.ApiClient()), namespace or "default"


def annotate(args: argparse.Namespace, annotations: dict[str, str]) -> int:
    """Set annotations on the ModelDeployment (the retrain/promote/abort requests)."""
    from modelpilot.operator.errors import NotFound

    cluster, namespace = connect(args)
    try:
        cluster.patch(names.KIND, namespace, args.name, {"metadata": {"annotations": annotations}})
    except NotFound:
        print(f"modeldeployment {namespace}/{args.name} not found", file=sys.stderr)
        return 1
    return 0
