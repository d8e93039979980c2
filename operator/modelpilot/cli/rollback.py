"""`modelpilot rollback NAME --to vN`: serve an earlier revision again, without retraining.

It sets spec.serving.pinRevision (a merge patch of the spec, so `edit` RBAC suffices); the
operator serves that revision's bundle by the digest status.history recorded for it, through
spec.rollout.steps if there are any, and trains nothing while the pin is set. `--clear`
removes the pin and resumes training triggers. Because it changes the spec, an object that
is synced from Git (Argo CD, Flux) gets the pin reverted on the next sync unless the same
field is committed there: the command says so every time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from modelpilot.api import names
from modelpilot.api.status import ModelDeploymentStatus, parse_status
from modelpilot.cli.kube import add_target_arguments, connect


def refusal(status: ModelDeploymentStatus, revision: str) -> str | None:
    """Why `revision` cannot be pinned, or None when status.history has its digest."""
    try:
        names.revision_number(revision)
    except ValueError as err:
        return str(err)
    if any(h.revision == revision and h.model_sha256 for h in status.history):
        return None
    listed = ", ".join(h.revision for h in status.history if h.model_sha256) or "none yet"
    return (
        f"{revision} is not in status.history with a model digest, so it cannot be served "
        f"again without retraining (revisions you can roll back to: {listed})"
    )


def gitops_controller(metadata: Mapping[str, Any]) -> str | None:
    """Which GitOps controller applies this object, judged by its labels/annotations."""
    keys = [*(metadata.get("labels") or {}), *(metadata.get("annotations") or {})]
    for key in keys:
        if key.startswith("argocd.argoproj.io/"):
            return "Argo CD"
        if key.startswith(("kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/")):
            return "Flux"
    return None


def gitops_note(metadata: Mapping[str, Any], revision: str | None) -> str:
    field = (
        f"spec.serving.pinRevision: {revision}"
        if revision is not None
        else "the removal of spec.serving.pinRevision"
    )
    controller = gitops_controller(metadata)
    who = (
        f"This object is managed by {controller}"
        if controller
        else "If this object is synced from Git (Argo CD, Flux)"
    )
    return f"{who}: commit {field} to Git too, or the next sync reverts it."


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="modelpilot rollback", description=__doc__.splitlines()[0]
    )
    add_target_arguments(parser)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="vN", help="the revision to serve again (see `status`)")
    target.add_argument(
        "--clear", action="store_true", help="remove the pin: training triggers resume"
    )
    args = parser.parse_args(list(argv))

    from modelpilot.operator.errors import NotFound

    cluster, namespace = connect(args)
    body = cluster.get(names.KIND, namespace, args.name)
    if body is None:
        print(f"modeldeployment {namespace}/{args.name} not found", file=sys.stderr)
        return 1
    if args.to is not None:
        why = refusal(parse_status(body.get("status")), args.to)
        if why is not None:
            print(f"modeldeployment/{args.name}: cannot roll back: {why}", file=sys.stderr)
            return 1
    try:
        cluster.patch(
            names.KIND,
            namespace,
            args.name,
            {"spec": {"serving": {"pinRevision": args.to}}},  # None removes the field
        )
    except NotFound:
        print(f"modeldeployment {namespace}/{args.name} not found", file=sys.stderr)
        return 1
    if args.to is not None:
        print(
            f"modeldeployment/{args.name}: pinned to {args.to} (spec.serving.pinRevision); "
            "it serves again by its recorded digest and nothing trains until "
            f"`modelpilot rollback {args.name} --clear`"
        )
    else:
        print(f"modeldeployment/{args.name}: pin removed; training triggers resume")
    print(gitops_note(body.get("metadata", {}), args.to))
    return 0
