"""`kubectl auth can-i` as the operator's ServiceAccount, against a real apiserver.

Given the chart's RBAC rendered by the real helm (cluster-wide, and limited to a namespace
list) and kustomize's manifests/rbac, applied to the local control plane,
then the operator's ServiceAccount may do exactly what docs/rbac.md lists, in the namespaces
it watches: every listed verb is a yes, every other verb on the same resources is a no, and
Secrets, ConfigMaps, other namespaces and cluster-scoped writes are all a no.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from helm_harness import CHART, run, tool
from kube import REPO

pytestmark = pytest.mark.e2e

ALL_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
# Never, in any namespace: credentials, config the operator does not own, pod shells, peering.
NEVER_NAMESPACED = [
    ("", "secrets"),
    ("", "configmaps"),
    ("", "pods/exec"),
    ("", "pods/log"),
    ("", "pods/portforward"),
    ("", "serviceaccounts/token"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("kopf.dev", "kopfpeerings"),
]
# Never cluster-wide: writes to cluster-scoped objects, privilege escalation, Secrets.
NEVER_CLUSTER = [
    ("create", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("patch", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("delete", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("create", "rbac.authorization.k8s.io", "clusterroles"),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
    ("escalate", "rbac.authorization.k8s.io", "clusterroles"),
    ("bind", "rbac.authorization.k8s.io", "clusterroles"),
    ("create", "", "namespaces"),
    ("delete", "", "namespaces"),
    ("patch", "", "nodes"),
    ("create", "", "persistentvolumes"),
    ("impersonate", "", "serviceaccounts"),
    ("list", "", "secrets"),
    ("create", "admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("create", "kopf.dev", "clusterkopfpeerings"),
]


@dataclass(frozen=True)
class Install:
    """RBAC objects applied for one ServiceAccount; `watched` empty means cluster-wide."""

    name: str
    namespace: str
    service_account: str
    watched: tuple[str, ...]
    unwatched: str
    objects: tuple[dict[str, Any], ...]

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def rules(self, role: str) -> list[dict[str, Any]]:
        (obj,) = [
            o for o in self.objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == role
        ]
        return obj["rules"]


@dataclass(frozen=True)
class Check:
    verb: str
    group: str
    resource: str  # may carry a subresource: "modeldeployments/status"
    namespace: str | None  # None: cluster scope

    def __str__(self) -> str:
        where = f"in {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.verb} {self.resource}.{self.group or 'core'} {where}"


def kubectl(
    kubeconfig: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("kubectl"), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def allowed(kubeconfig: str, install: Install, checks: list[Check]) -> dict[Check, bool]:
    """Ask the apiserver's authorizer, as the operator's token would, in one round trip.

    SubjectAccessReviews name the API group explicitly, so the answer does not depend on
    discovery (`kubectl auth can-i` cannot resolve HTTPRoutes on a cluster without the
    Gateway API CRDs, yet the rule must be right before they are installed).
    """
    groups = [
        "system:serviceaccounts",
        f"system:serviceaccounts:{install.namespace}",
        "system:authenticated",
    ]
    reviews = []
    for check in checks:
        resource, _, sub = check.resource.partition("/")
        attributes = {
            "verb": check.verb,
            "group": check.group,
            "resource": resource,
            "subresource": sub,
            "namespace": check.namespace or "",
        }
        reviews.append(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {"user": install.user, "groups": groups, "resourceAttributes": attributes},
            }
        )
    result = kubectl(
        kubeconfig,
        "create",
        "-o",
        "json",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": reviews}),
    )
    assert result.returncode == 0, result.stderr
    items, decoder, text, at = [], json.JSONDecoder(), result.stdout, 0
    while text[at:].strip():  # kubectl prints one JSON document per created object
        at = len(text) - len(text[at:].lstrip())
        item, at = decoder.raw_decode(text, at)
        items.append(item)
    return {check: item["status"]["allowed"] for check, item in zip(checks, items, strict=True)}


def can_i(kubeconfig: str, install: Install, *args: str) -> bool:
    """`kubectl auth can-i ARGS --as=SA`, as a person reviewing the install would run it."""
    result = kubectl(kubeconfig, "auth", "can-i", *args, f"--as={install.user}")
    answer = result.stdout.strip()
    assert answer in {"yes", "no"}, result.stderr
    return answer == "yes"


def apply_objects(kubeconfig: str, objects: list[dict[str, Any]]) -> None:
    result = kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def crd_installed(kubeconfig: str) -> None:
    """The ModelDeployment API, so `kubectl auth can-i` can resolve `modeldeployments`."""
    result = kubectl(kubeconfig, "apply", "-k", str(REPO / "manifests" / "crd"))
    assert result.returncode == 0, result.stderr
    result = kubectl(
        kubeconfig,
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/modeldeployments.modelpilot.dev",
    )
    assert result.returncode == 0, result.stderr


@contextlib.contextmanager
def rbac_installed(kubeconfig: str, how: str) -> Iterator[Install]:
    """Apply only the RBAC objects (no operator pod) under names unique to this test."""
    suffix = uuid.uuid4().hex[:6]
    system, ml, other = f"rbac-sys-{suffix}", f"rbac-ml-{suffix}", f"rbac-other-{suffix}"
    for ns in (system, ml, other):
        assert kubectl(kubeconfig, "create", "namespace", ns).returncode == 0
    if how == "kustomize":
        rendered = run(tool("kubectl"), "kustomize", str(REPO / "manifests" / "rbac")).stdout
        text = rendered.replace("modelpilot-system", system)
        text = text.replace("name: modelpilot-", f"name: rbac-{suffix}-")
        objects = [o for o in yaml.safe_load_all(text) if o]
        sa, watched = f"rbac-{suffix}-operator", ()
    else:
        release = f"rbac-{suffix}"
        args = [tool("helm"), "template", release, str(CHART), "--namespace", system]
        for template in ("rbac", "serviceaccount", "aggregated-roles"):
            args += ["--show-only", f"templates/{template}.yaml"]
        watched = (ml,) if how == "helm-namespace-list" else ()
        if watched:
            args += ["--set", f"watchNamespaces={{{','.join(watched)}}}"]
        result = run(*args)
        assert result.returncode == 0, result.stderr
        objects = [o for o in yaml.safe_load_all(result.stdout) if o]
        sa = f"{release}-modelpilot-operator"
    apply_objects(kubeconfig, objects)
    try:
        yield Install(how, system, sa, watched, other, tuple(objects))
    finally:
        kubectl(kubeconfig, "delete", "--wait=false", "-f", "-", stdin=yaml.safe_dump_all(objects))
        for ns in (system, ml, other):
            kubectl(kubeconfig, "delete", "namespace", ns, "--wait=false")


@pytest.fixture(scope="module", params=["helm-all-namespaces", "helm-namespace-list", "kustomize"])
def install(request: pytest.FixtureRequest, kubeconfig: str) -> Iterator[Install]:
    with rbac_installed(kubeconfig, request.param) as installed:
        yield installed


def test_operator_service_account_can_do_exactly_the_documented_verbs(
    kubeconfig: str, install: Install
) -> None:
    operator_role = next(
        o["metadata"]["name"]
        for o in install.objects
        if o["kind"] == "ClusterRole" and o["metadata"]["name"].endswith("-operator")
    )
    watched = install.watched[0] if install.watched else install.unwatched
    expected: dict[Check, bool] = {}
    for rule in install.rules(operator_role):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in ALL_VERBS:
                    expected[Check(verb, group, resource, watched)] = verb in rule["verbs"]
                    if install.watched:  # a namespace list: nothing anywhere else
                        expected[Check(verb, group, resource, install.unwatched)] = False
                        expected[Check(verb, group, resource, install.namespace)] = False
    got = allowed(kubeconfig, install, list(expected))
    wrong = [
        f"{check}: {'yes' if got[check] else 'no'}"
        for check in expected
        if got[check] != expected[check]
    ]
    assert not wrong, "\n".join(wrong)


def test_operator_service_account_is_refused_secrets_and_cluster_writes(
    kubeconfig: str, install: Install
) -> None:
    checks = [
        Check(verb, group, resource, ns)
        for ns in (*install.watched, install.unwatched, install.namespace)
        for group, resource in NEVER_NAMESPACED
        for verb in ("get", "list", "watch", "create", "patch")
    ]
    checks += [Check(verb, group, resource, None) for verb, group, resource in NEVER_CLUSTER]
    got = allowed(kubeconfig, install, checks)
    assert not [str(c) for c in checks if got[c]]


@pytest.mark.usefixtures("crd_installed")
def test_kubectl_auth_can_i_agrees(kubeconfig: str, install: Install) -> None:
    """The commands docs/rbac.md tells a reviewer to run."""
    ns = install.watched[0] if install.watched else install.unwatched
    assert can_i(kubeconfig, install, "create", "jobs.batch", "-n", ns)
    assert can_i(kubeconfig, install, "patch", "deployments.apps", "-n", ns)
    assert can_i(kubeconfig, install, "list", "pods", "-n", ns)
    assert can_i(
        kubeconfig,
        install,
        "update",
        "modeldeployments.modelpilot.dev",
        "--subresource=status",
        "-n",
        ns,
    )
    assert not can_i(kubeconfig, install, "update", "modeldeployments.modelpilot.dev", "-n", ns)
    assert not can_i(kubeconfig, install, "delete", "modeldeployments.modelpilot.dev", "-n", ns)
    assert not can_i(kubeconfig, install, "delete", "pods", "-n", ns)
    # Claims: read by name for the model-store label, never listed or changed.
    assert can_i(kubeconfig, install, "get", "persistentvolumeclaims", "-n", ns)
    assert not can_i(kubeconfig, install, "list", "persistentvolumeclaims", "-n", ns)
    assert not can_i(kubeconfig, install, "patch", "persistentvolumeclaims", "-n", ns)
    assert not can_i(kubeconfig, install, "get", "secrets", "-n", ns)
    assert not can_i(kubeconfig, install, "get", "secrets", "-n", install.namespace)
    assert not can_i(kubeconfig, install, "create", "clusterroles.rbac.authorization.k8s.io")
    assert can_i(kubeconfig, install, "create", "jobs.batch", "-n", install.unwatched) == (
        not install.watched
    )


def test_operator_holds_leases_only_in_its_own_namespace(kubeconfig: str, install: Install) -> None:
    leases = ("coordination.k8s.io", "leases")
    checks = {
        Check(verb, *leases, install.namespace): verb in {"get", "create", "update"}
        for verb in ALL_VERBS
    }
    for ns in (*install.watched, install.unwatched):
        checks.update({Check(verb, *leases, ns): False for verb in ALL_VERBS})
    got = allowed(kubeconfig, install, list(checks))
    assert got == checks


def test_operator_may_read_what_kopf_scans_cluster_wide(kubeconfig: str, install: Install) -> None:
    crds = ("apiextensions.k8s.io", "customresourcedefinitions")
    checks = {
        Check("list", "", "nodes", None): True,  # sizes the training cap, once
        Check("get", "", "nodes", None): False,
        Check("list", *crds, None): True,
        Check("watch", *crds, None): True,
        Check("get", *crds, None): False,
        # The chart grants namespaces only with a namespace list; kustomize always (an
        # overlay may narrow MODELPILOT_WATCH_NAMESPACES without touching the RBAC).
        Check("list", "", "namespaces", None): bool(install.watched) or install.name == "kustomize",
        Check("get", "", "namespaces", None): False,
    }
    got = allowed(kubeconfig, install, list(checks))
    assert got == checks


@pytest.mark.usefixtures("crd_installed")
def test_aggregated_roles_reach_namespace_users(kubeconfig: str) -> None:
    """`edit` in a namespace brings ModelDeployment writes, `view` only reads (aggregation)."""
    with rbac_installed(kubeconfig, "helm-all-namespaces") as install:
        ns = install.unwatched
        for user, role in (("alice", "edit"), ("bob", "view")):
            result = kubectl(
                kubeconfig,
                "create",
                "rolebinding",
                f"{user}-{role}",
                f"--clusterrole={role}",
                f"--user={user}",
                "-n",
                ns,
            )
            assert result.returncode == 0, result.stderr

        def user_can(user: str, verb: str) -> bool:
            out = kubectl(
                kubeconfig,
                "auth",
                "can-i",
                verb,
                "modeldeployments.modelpilot.dev",
                "-n",
                ns,
                f"--as={user}",
            ).stdout.strip()
            return out == "yes"

        # The controller-manager aggregates the rules shortly after the roles appear.
        deadline = time.monotonic() + 30
        while not user_can("alice", "create") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert user_can("alice", "create") and user_can("alice", "patch")
        assert user_can("bob", "list") and not user_can("bob", "patch")
