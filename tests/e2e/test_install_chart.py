"""The Helm chart rendered by the real `helm` (lint, template), compared with manifests/.

These need the pinned helm and kubectl binaries (built by `make k8s-bin` before the e2e suite
runs) but no cluster; the install tests beside this file put the same output on a real one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube import k8s_bin

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelpilot"
RELEASE, NAMESPACE = "modelpilot", "modelpilot-system"


def tool(name: str) -> str:
    path = k8s_bin() / name
    assert path.exists(), f"{path} is missing: run `make k8s-bin`"
    return str(path)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def helm_template(*sets: str, release: str = RELEASE) -> list[dict[str, Any]]:
    args = [tool("helm"), "template", release, str(CHART), "--namespace", NAMESPACE]
    for s in sets:
        args += ["--set", s]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def kustomize(folder: str) -> list[dict[str, Any]]:
    result = run(tool("kubectl"), "kustomize", str(REPO / folder))
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def by_kind_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str | None], Any]:
    return {
        (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")): o for o in objects
    }


def env_of(deployment: dict[str, Any]) -> dict[str, str | None]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value") for e in container["env"]}


def operator_deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    return deployment


# ----------------------------------------------------------------------------- helm lint


@pytest.mark.parametrize(
    "sets",
    [
        pytest.param((), id="defaults"),
        pytest.param(("watchNamespaces={ml,team-b}",), id="namespace-list"),
        pytest.param(
            ("metrics.serviceMonitor.enabled=true", "commonLabels.team=ml",
             "commonAnnotations.owner=platform"),
            id="service-monitor-and-extra-metadata",
        ),
        pytest.param(("replicaCount=2", "metrics.prometheusRule.enabled=true"),
                     id="standby-and-alerts"),
        pytest.param(
            ("networkPolicy.enabled=true", "watchNamespaces={ml}"), id="network-policy"
        ),
    ],
)
def test_helm_lint_is_clean(sets: tuple[str, ...]) -> None:
    args = [tool("helm"), "lint", "--strict", str(CHART)]
    for s in sets:
        args += ["--set", s]
    result = run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


# ----------------------------------------------------------------- same objects as kustomize


def test_chart_renders_what_kustomize_installs() -> None:
    """With release `modelpilot` in `modelpilot-system`, names and rules match manifests/."""
    chart = by_kind_name(helm_template())
    manifests = by_kind_name(kustomize("manifests/default"))
    # Helm leaves the namespace to `--create-namespace` and installs crds/ by itself.
    expected = {k for k in manifests if k[0] not in {"Namespace", "CustomResourceDefinition"}}
    assert set(chart) == expected
    # The chart adds the namespaces rule only with a namespace list; manifests/ always has it.
    narrowed = by_kind_name(helm_template("watchNamespaces={ml}"))
    for key, obj in manifests.items():
        if key[0] in {"ClusterRole", "Role"}:
            rendered = narrowed if key[1].endswith("-cluster") else chart
            assert rendered[key]["rules"] == obj["rules"], key
        if key[0] in {"ClusterRoleBinding", "RoleBinding"}:
            assert chart[key]["roleRef"] == obj["roleRef"], key
            assert chart[key]["subjects"] == obj["subjects"], key


def test_chart_operator_pod_matches_kustomize() -> None:
    chart = operator_deployment(helm_template())
    manifests = operator_deployment(kustomize("manifests/default"))
    for field in ("replicas", "strategy"):
        assert chart["spec"][field] == manifests["spec"][field]
    chart_pod = chart["spec"]["template"]["spec"]
    manifests_pod = manifests["spec"]["template"]["spec"]
    for field in ("securityContext", "serviceAccountName", "volumes"):
        assert chart_pod[field] == manifests_pod[field], field
    (c,), (m,) = chart_pod["containers"], manifests_pod["containers"]
    for field in ("command", "ports", "livenessProbe", "readinessProbe",
                  "securityContext", "resources", "volumeMounts"):
        assert c[field] == m[field], field
    assert env_of(chart).keys() == env_of(manifests).keys()
    assert "args" not in c and "args" not in m


# ------------------------------------------------------------------------------- values


def test_all_namespaces_binds_the_operator_cluster_wide() -> None:
    objects = by_kind_name(helm_template())
    binding = objects[("ClusterRoleBinding", "modelpilot-operator", None)]
    assert binding["roleRef"]["name"] == "modelpilot-operator"
    # The only RoleBinding: the leader's Lease, in the operator's own namespace.
    assert [k for k in objects if k[0] == "RoleBinding"] == [
        ("RoleBinding", "modelpilot-operator-leader", NAMESPACE)]
    assert env_of(operator_deployment(list(objects.values())))["MODELPILOT_WATCH_NAMESPACES"] == ""
    cluster_role = objects[("ClusterRole", "modelpilot-operator-cluster", None)]
    assert "namespaces" not in {r for rule in cluster_role["rules"] for r in rule["resources"]}


def test_namespace_list_binds_the_operator_only_there() -> None:
    objects = by_kind_name(helm_template("watchNamespaces={ml,team-b,ml}"))
    assert ("ClusterRoleBinding", "modelpilot-operator", None) not in objects
    role_bindings = {k[2]: v for k, v in objects.items()
                     if k[0] == "RoleBinding" and not k[1].endswith("-leader")}
    assert sorted(role_bindings) == ["ml", "team-b"]
    for binding in role_bindings.values():
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                      "kind": "ClusterRole", "name": "modelpilot-operator"}
        assert binding["subjects"][0]["namespace"] == NAMESPACE
    env = env_of(operator_deployment(list(objects.values())))
    assert env["MODELPILOT_WATCH_NAMESPACES"] == "ml,team-b"
    cluster_role = objects[("ClusterRole", "modelpilot-operator-cluster", None)]
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]} in (
        cluster_role["rules"]
    )


def test_images_default_to_the_app_version_and_can_be_overridden() -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    deployment = operator_deployment(helm_template())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"ghcr.io/modelpilot/operator:{app_version}"
    assert env_of(deployment)["MODELPILOT_TRAINER_IMAGE"] == (
        f"ghcr.io/modelpilot/trainer:{app_version}"
    )
    deployment = operator_deployment(helm_template(
        "image.operator.repository=registry.example/op", "image.operator.tag=1.2.3",
        "image.serving.repository=registry.example/serve", "image.serving.tag=9",
    ))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/op:1.2.3"
    assert env_of(deployment)["MODELPILOT_SERVING_IMAGE"] == "registry.example/serve:9"


def test_a_digest_is_used_in_preference_to_the_tag_and_a_bad_one_is_refused() -> None:
    digest = "sha256:" + "ab" * 32
    deployment = operator_deployment(helm_template(
        "image.operator.repository=registry.example/op", "image.operator.tag=1.2.3",
        f"image.operator.digest={digest}", f"image.trainer.digest={digest}",
    ))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"registry.example/op@{digest}"
    assert env_of(deployment)["MODELPILOT_TRAINER_IMAGE"] == f"ghcr.io/modelpilot/trainer@{digest}"
    result = run(tool("helm"), "template", RELEASE, str(CHART),
                 "--set", "image.serving.digest=latest")
    assert result.returncode != 0
    assert "digest" in result.stderr


def test_allowlist_and_default_store_reach_the_operator() -> None:
    env = env_of(operator_deployment(helm_template(
        "estimatorAllowlist={sklearn.*,xgboost.XGBClassifier}", "defaultModelStore.pvc=models",
    )))
    assert env["MODELPILOT_ESTIMATOR_ALLOWLIST"] == "sklearn.*,xgboost.XGBClassifier"
    assert env["MODELPILOT_DEFAULT_STORE_PVC"] == "models"


def test_extra_labels_and_annotations_reach_every_object() -> None:
    objects = helm_template("commonLabels.team=ml", "commonAnnotations.owner=platform",
                            "metrics.serviceMonitor.enabled=true")
    for obj in objects:
        meta = obj["metadata"]
        assert meta["labels"]["team"] == "ml", obj["kind"]
        assert meta["annotations"]["owner"] == "platform", obj["kind"]
    pod = operator_deployment(objects)["spec"]["template"]["metadata"]
    assert pod["labels"]["team"] == "ml" and pod["annotations"]["owner"] == "platform"


def test_a_standby_replica_brings_a_pdb_and_rolls_one_pod_at_a_time() -> None:
    single = helm_template()
    assert "PodDisruptionBudget" not in {o["kind"] for o in single}
    assert operator_deployment(single)["spec"]["strategy"] == {"type": "Recreate"}
    objects = helm_template("replicaCount=2")
    deployment = operator_deployment(objects)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert env_of(deployment)["MODELPILOT_LEADER_ELECTION_NAMESPACE"] == NAMESPACE
    (pdb,) = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert pdb["spec"]["minAvailable"] == 1
    result = run(tool("helm"), "template", RELEASE, str(CHART), "--set", "replicaCount=2",
                 "--set", "leaderElection.enabled=false")
    assert result.returncode != 0 and "leaderElection.enabled" in result.stderr


def test_the_alerts_are_optional_and_match_the_docs() -> None:
    assert "PrometheusRule" not in {o["kind"] for o in helm_template()}
    (rule,) = [o for o in helm_template("metrics.prometheusRule.enabled=true")
               if o["kind"] == "PrometheusRule"]
    docs = (REPO / "docs" / "operator-metrics.md").read_text()
    alerts = rule["spec"]["groups"][0]["rules"]
    assert len(alerts) >= 5
    for alert in alerts:
        assert f"alert: {alert['alert']}" in docs, alert["alert"]
        assert " ".join(alert["expr"].split()) in " ".join(docs.split()), alert["alert"]


def test_service_monitor_is_optional() -> None:
    assert "ServiceMonitor" not in {o["kind"] for o in helm_template()}
    (monitor,) = [o for o in helm_template("metrics.serviceMonitor.enabled=true",
                                           "metrics.serviceMonitor.labels.release=prom")
                  if o["kind"] == "ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    result = run(tool("helm"), "template", RELEASE, str(CHART), "--set",
                 "metrics.serviceMonitor.enabled=true", "--set", "metrics.service.enabled=false")
    assert result.returncode != 0 and "metrics.service.enabled" in result.stderr


def test_rbac_and_service_account_can_be_brought_by_the_platform() -> None:
    objects = helm_template("rbac.create=false", "serviceAccount.create=false",
                            "serviceAccount.name=platform-sa")
    assert {o["kind"] for o in objects} == {"Deployment", "Service"}
    pod = operator_deployment(objects)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "platform-sa"


def test_another_release_name_prefixes_every_object() -> None:
    objects = helm_template(release="mp")
    for obj in objects:
        assert obj["metadata"]["name"].startswith("mp-modelpilot"), obj["metadata"]["name"]


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        pytest.param("watchNamespaces=ml", "/watchNamespaces", id="namespaces-not-a-list"),
        pytest.param("watchNamespaces={ML_Team}", "/watchNamespaces/0", id="bad-namespace-name"),
        pytest.param("estimatorAllowlist=null", "estimatorAllowlist", id="allowlist-removed"),
        pytest.param("imageTag=1", "imageTag", id="unknown-value-typo"),
    ],
)
def test_values_schema_rejects_mistakes_by_name(value: str, complaint: str) -> None:
    result = run(tool("helm"), "template", RELEASE, str(CHART), "--set", value)
    assert result.returncode != 0
    assert complaint in result.stderr, result.stderr


# ------------------------------------------------------------------------ network policy


def network_policies(*sets: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o["spec"]
        for o in helm_template(*sets)
        if o["kind"] == "NetworkPolicy"
    }


def test_network_policy_is_off_by_default() -> None:
    assert network_policies() == {}
    assert network_policies("watchNamespaces={ml}") == {}


def test_network_policy_lets_serving_pods_take_their_port_and_trainers_only_dns() -> None:
    from modelpilot.api.names import SERVING_PORT
    from modelpilot.operator.objects import labels

    policies = network_policies("networkPolicy.enabled=true", "watchNamespaces={ml,team-b}")
    assert set(policies) == {
        (ns, f"modelpilot-{kind}") for ns in ("ml", "team-b") for kind in ("serving", "training")
    }
    serving = policies[("ml", "modelpilot-serving")]
    # The selectors pick exactly the pods the operator labels.
    for kind, component in (("serving", "serving"), ("training", "trainer")):
        selector = policies[("ml", f"modelpilot-{kind}")]["podSelector"]["matchLabels"]
        pod_labels = labels("iris", component=component, revision="v1")
        assert selector.items() <= pod_labels.items(), kind
    assert serving["policyTypes"] == ["Ingress"]
    assert serving["ingress"] == [{"ports": [{"protocol": "TCP", "port": SERVING_PORT}]}]
    training = policies[("ml", "modelpilot-training")]
    assert training["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in training  # nothing may connect to a trainer
    assert training["egress"] == [
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
    ]


def test_network_policy_takes_the_platforms_peers_and_egress() -> None:
    policies = network_policies(
        "networkPolicy.enabled=true",
        "networkPolicy.namespaces={ml}",
        "networkPolicy.serving.from[0].namespaceSelector.matchLabels.role=gateway",
        "networkPolicy.training.egress[0].to[0].ipBlock.cidr=10.9.0.0/16",
    )
    assert set(policies) == {("ml", "modelpilot-serving"), ("ml", "modelpilot-training")}
    assert policies[("ml", "modelpilot-serving")]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"role": "gateway"}}}
    ]
    assert policies[("ml", "modelpilot-training")]["egress"][1] == {
        "to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}]
    }


def test_network_policy_without_namespaces_is_refused_by_name() -> None:
    result = run(tool("helm"), "template", RELEASE, str(CHART), "--set",
                 "networkPolicy.enabled=true")
    assert result.returncode != 0
    assert "networkPolicy.namespaces" in result.stderr
