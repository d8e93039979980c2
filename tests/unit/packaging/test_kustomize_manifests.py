"""manifests/ as a platform team reviews it: least-privilege RBAC that matches docs/rbac.md,
and an operator Deployment that the `restricted` Pod Security Standard admits.

These read the YAML files directly (no kubectl), so they run in the fast unit suite; the e2e
suite applies the same files to a real apiserver.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "manifests"
RBAC_DOC = REPO / "docs" / "rbac.md"

READ_VERBS = {"get", "list", "watch"}
# Resources the operator must never touch, whatever its code grows into.
FORBIDDEN = {"secrets", "configmaps", "pods/exec", "pods/attach", "pods/portforward", "*"}
CLUSTER_SCOPED = {
    "customresourcedefinitions",
    "namespaces",
    "nodes",
    "clusterroles",
    "clusterrolebindings",
    "persistentvolumes",
    "storageclasses",
}


def load_kustomization(folder: Path) -> list[dict[str, Any]]:
    """Every object a kustomization's resources name, following nested kustomizations."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    objects: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = (folder / resource).resolve()
        assert path.exists(), f"{folder}/kustomization.yaml names missing {resource}"
        if path.is_dir():
            objects += load_kustomization(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return objects


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def rule_set(rules: list[dict[str, Any]]) -> set[tuple[str, str, frozenset[str]]]:
    return {
        (group, resource, frozenset(rule["verbs"]))
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def documented_rules() -> set[tuple[str, str, frozenset[str]]]:
    """The operator's rows of docs/rbac.md's tables: | `group` | `resource` | verbs | why |."""
    text = RBAC_DOC.read_text().split("## What the operator does *not* get")[0]
    rows = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        group = re.match(r"`([^`]*)`", cells[0]).group(1).strip('"')  # type: ignore[union-attr]
        resource = cells[1].strip("`")
        verbs = frozenset(v.strip() for v in cells[2].split(","))
        rows.add((group, resource, verbs))
    return rows


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return load_kustomization(MANIFESTS / "default")


def test_top_level_kustomization_installs_default() -> None:
    assert load_kustomization(MANIFESTS) == load_kustomization(MANIFESTS / "default")


def test_default_installs_crd_rbac_and_operator(default: list[dict[str, Any]]) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in default}
    assert ("CustomResourceDefinition", "modeldeployments.modelpilot.dev") in kinds
    assert ("Namespace", "modelpilot-system") in kinds
    assert ("ServiceAccount", "modelpilot-operator") in kinds
    assert ("Deployment", "modelpilot-operator") in kinds
    assert ("ClusterRole", "modelpilot-edit") in kinds
    assert ("ClusterRole", "modelpilot-view") in kinds


def test_operator_rules_are_exactly_the_documented_table(default: list[dict[str, Any]]) -> None:
    operator = find(default, "ClusterRole", "modelpilot-operator")["rules"]
    cluster = find(default, "ClusterRole", "modelpilot-operator-cluster")["rules"]
    leader = find(default, "Role", "modelpilot-operator-leader")["rules"]
    assert rule_set(operator) | rule_set(cluster) | rule_set(leader) == documented_rules()


@pytest.mark.parametrize("role", ["modelpilot-operator", "modelpilot-operator-cluster"])
def test_operator_rules_are_least_privilege(default: list[dict[str, Any]], role: str) -> None:
    for group, resource, verbs in rule_set(find(default, "ClusterRole", role)["rules"]):
        assert resource not in FORBIDDEN and group != "*" and "*" not in verbs, (group, resource)
        assert not verbs & {"escalate", "bind", "impersonate"}
        if resource in CLUSTER_SCOPED:
            assert verbs <= READ_VERBS, f"cluster-scoped write on {resource}: {sorted(verbs)}"


def test_bindings_give_the_roles_to_the_operator_only(default: list[dict[str, Any]]) -> None:
    for name in ("modelpilot-operator", "modelpilot-operator-cluster"):
        binding = find(default, "ClusterRoleBinding", name)
        assert binding["roleRef"]["name"] == name
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": "modelpilot-operator",
                "namespace": "modelpilot-system",
            }
        ]


def test_user_roles_aggregate_into_the_builtin_roles(default: list[dict[str, Any]]) -> None:
    edit = find(default, "ClusterRole", "modelpilot-edit")["metadata"]["labels"]
    view = find(default, "ClusterRole", "modelpilot-view")["metadata"]["labels"]
    assert edit["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert edit["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    assert view["rbac.authorization.k8s.io/aggregate-to-view"] == "true"


def test_operator_namespace_enforces_restricted(default: list[dict[str, Any]]) -> None:
    labels = find(default, "Namespace", "modelpilot-system")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def assert_restricted_operator_deployment(deployment: dict[str, Any]) -> None:
    """What the chart and the kustomize Deployment share; also used by the e2e chart test."""
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}, "two operators must never run at once"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "memory" in container["resources"]["limits"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    liveness = env.get("MODELPILOT_LIVENESS_ENDPOINT")
    assert liveness, "kopf's liveness endpoint must be enabled for the probes"
    port = int(re.search(r":(\d+)/", liveness).group(1))  # type: ignore[union-attr]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    path = "/" + liveness.split("/", 3)[3]
    for probe in ("livenessProbe", "readinessProbe"):
        http = container[probe]["httpGet"]
        assert ports[http["port"]] == port and http["path"] == path, probe


def test_operator_env_is_what_the_operator_reads(default: list[dict[str, Any]]) -> None:
    """Every variable set on the Deployment is one modelpilot.operator.settings defines."""
    settings = (REPO / "operator" / "modelpilot" / "operator" / "settings.py").read_text()
    names_py = (REPO / "api" / "modelpilot" / "api" / "names.py").read_text()
    known = set(re.findall(r'"(MODELPILOT_[A-Z_]+)"', settings + names_py))
    (container,) = find(default, "Deployment", "modelpilot-operator")["spec"]["template"]["spec"][
        "containers"
    ]
    unknown = {e["name"] for e in container["env"]} - known
    assert not unknown, f"the operator reads no such variable: {sorted(unknown)}"


def test_no_operator_env_names_the_install_namespace_literally(
    default: list[dict[str, Any]],
) -> None:
    """An overlay's `namespace:` moves every object but rewrites no env value: a literal
    `modelpilot-system` would send the operator to a Lease it may not read (403 forever,
    nothing reconciled), as an overlay install once did."""
    (container,) = find(default, "Deployment", "modelpilot-operator")["spec"]["template"]["spec"][
        "containers"
    ]
    literal = [e["name"] for e in container["env"] if e.get("value") == "modelpilot-system"]
    assert not literal, f"use fieldRef metadata.namespace for {literal}"
    env = {e["name"]: e for e in container["env"]}
    assert env["MODELPILOT_LEADER_ELECTION_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }


def test_operator_deployment_is_restricted(default: list[dict[str, Any]]) -> None:
    deployment = find(default, "Deployment", "modelpilot-operator")
    assert_restricted_operator_deployment(deployment)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "modelpilot-operator"


def test_samples_are_a_modeldeployment_and_its_store() -> None:
    objects = load_kustomization(MANIFESTS / "samples")
    mdep = find(objects, "ModelDeployment", "iris")
    claim = mdep["spec"]["modelStore"]["pvc"]["claimName"]
    assert find(objects, "PersistentVolumeClaim", claim)["metadata"]["name"] == claim


@pytest.mark.parametrize("role", ["modelpilot-edit", "modelpilot-view"])
def test_model_owners_roles_only_read_status(default: list[dict[str, Any]], role: str) -> None:
    """Status is the operator's only memory: a model owner's role reads it, never writes it
    (docs/security.md, "What the operator trusts")."""
    rules = rule_set(find(default, "ClusterRole", role)["rules"])
    status = [verbs for _, resource, verbs in rules if resource == "modeldeployments/status"]
    assert status, f"{role} does not mention modeldeployments/status"
    assert all(verbs <= READ_VERBS for verbs in status), status
