"""The Helm chart rendered by the real `helm` (lint, template), compared with manifests/.

These need the pinned helm and kubectl binaries (built by `make k8s-bin` before the e2e suite
runs) but no cluster; the install tests beside this file put the same output on a real one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from helm_harness import CHART, run, tool
from kube import REPO

RELEASE, NAMESPACE = "modelpilot", "modelpilot-system"


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
    return {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")): o for o in objects}


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
            (
                "metrics.serviceMonitor.enabled=true",
                "commonLabels.team=ml",
                "commonAnnotations.owner=platform",
            ),
            id="service-monitor-and-extra-metadata",
        ),
        pytest.param(
            ("replicaCount=2", "metrics.prometheusRule.enabled=true"), id="standby-and-alerts"
        ),
        pytest.param(("networkPolicy.enabled=true", "watchNamespaces={ml}"), id="network-policy"),
        pytest.param(
            (
                "grafana.dashboards.enabled=true",
                "metrics.podMonitor.enabled=true",
                "metrics.prometheusRule.enabled=true",
                "commonAnnotations.owner=platform",
            ),
            id="pictures",
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
    for field in (
        "command",
        "ports",
        "livenessProbe",
        "readinessProbe",
        "securityContext",
        "resources",
        "volumeMounts",
    ):
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
        ("RoleBinding", "modelpilot-operator-leader", NAMESPACE)
    ]
    assert env_of(operator_deployment(list(objects.values())))["MODELPILOT_WATCH_NAMESPACES"] == ""
    cluster_role = objects[("ClusterRole", "modelpilot-operator-cluster", None)]
    assert "namespaces" not in {r for rule in cluster_role["rules"] for r in rule["resources"]}


def test_namespace_list_binds_the_operator_only_there() -> None:
    objects = by_kind_name(helm_template("watchNamespaces={ml,team-b,ml}"))
    assert ("ClusterRoleBinding", "modelpilot-operator", None) not in objects
    role_bindings = {
        k[2]: v
        for k, v in objects.items()
        if k[0] == "RoleBinding" and not k[1].endswith("-leader")
    }
    assert sorted(role_bindings) == ["ml", "team-b"]
    for binding in role_bindings.values():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "modelpilot-operator",
        }
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
    deployment = operator_deployment(
        helm_template(
            "image.operator.repository=registry.example/op",
            "image.operator.tag=1.2.3",
            "image.serving.repository=registry.example/serve",
            "image.serving.tag=9",
        )
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/op:1.2.3"
    assert env_of(deployment)["MODELPILOT_SERVING_IMAGE"] == "registry.example/serve:9"


def test_a_digest_is_used_in_preference_to_the_tag_and_a_bad_one_is_refused() -> None:
    digest = "sha256:" + "ab" * 32
    deployment = operator_deployment(
        helm_template(
            "image.operator.repository=registry.example/op",
            "image.operator.tag=1.2.3",
            f"image.operator.digest={digest}",
            f"image.trainer.digest={digest}",
        )
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"registry.example/op@{digest}"
    assert env_of(deployment)["MODELPILOT_TRAINER_IMAGE"] == f"ghcr.io/modelpilot/trainer@{digest}"
    result = run(
        tool("helm"), "template", RELEASE, str(CHART), "--set", "image.serving.digest=latest"
    )
    assert result.returncode != 0
    assert "digest" in result.stderr


def test_allowlist_and_default_store_reach_the_operator() -> None:
    env = env_of(
        operator_deployment(
            helm_template(
                "estimatorAllowlist={sklearn.*,xgboost.XGBClassifier}",
                "defaultModelStore.pvc=models",
            )
        )
    )
    assert env["MODELPILOT_ESTIMATOR_ALLOWLIST"] == "sklearn.*,xgboost.XGBClassifier"
    assert env["MODELPILOT_DEFAULT_STORE_PVC"] == "models"


def test_pod_placement_policy_uid_and_log_format_reach_the_operator() -> None:
    """The values become settings the operator accepts (load_settings raises otherwise)."""
    from modelpilot.operator.settings import load_settings

    defaults = env_of(operator_deployment(helm_template()))
    settings = load_settings({k: v for k, v in defaults.items() if v is not None})
    assert settings.pod_uid == 65532 and settings.training_pod is None
    assert settings.log_format == "text"
    env = env_of(
        operator_deployment(
            helm_template(
                "workloads.serving.pod.nodeSelector.pool=models",
                "workloads.serving.pod.tolerations[0].key=dedicated",
                "workloads.serving.pod.tolerations[0].operator=Exists",
                "workloads.training.pod.priorityClassName=batch-low",
                "workloads.runAsUser=null",
                "policy.priorityClassAllowlist={batch-*,models-*}",
                "policy.serviceAccountAllowlist={s3-reader}",
                "logFormat=json",
            )
        )
    )
    settings = load_settings({k: v for k, v in env.items() if v is not None})
    assert settings.serving_pod is not None
    assert settings.serving_pod.node_selector == {"pool": "models"}
    assert settings.serving_pod.tolerations[0].key == "dedicated"
    assert settings.training_pod is not None
    assert settings.training_pod.priority_class_name == "batch-low"
    assert settings.pod_uid is None
    assert settings.priority_class_allowlist == ("batch-*", "models-*")
    assert settings.service_account_allowlist == ("s3-reader",)
    assert settings.log_format == "json"


def test_extra_labels_and_annotations_reach_every_object() -> None:
    objects = helm_template(
        "commonLabels.team=ml",
        "commonAnnotations.owner=platform",
        "metrics.serviceMonitor.enabled=true",
    )
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
    result = run(
        tool("helm"),
        "template",
        RELEASE,
        str(CHART),
        "--set",
        "replicaCount=2",
        "--set",
        "leaderElection.enabled=false",
    )
    assert result.returncode != 0 and "leaderElection.enabled" in result.stderr


def test_the_alerts_are_optional_and_match_the_docs() -> None:
    assert "PrometheusRule" not in {o["kind"] for o in helm_template()}
    (rule,) = [
        o
        for o in helm_template("metrics.prometheusRule.enabled=true")
        if o["kind"] == "PrometheusRule"
    ]
    docs = (REPO / "docs" / "operator-metrics.md").read_text()
    alerts = rule["spec"]["groups"][0]["rules"]
    assert len(alerts) >= 5
    for alert in alerts:
        assert f"alert: {alert['alert']}" in docs, alert["alert"]
        assert " ".join(alert["expr"].split()) in " ".join(docs.split()), alert["alert"]


def test_every_alert_links_its_runbook_under_the_base_url() -> None:
    (rule,) = [
        o
        for o in helm_template(
            "metrics.prometheusRule.enabled=true",
            "metrics.prometheusRule.runbookBaseUrl=https://x/rb.md",
        )
        if o["kind"] == "PrometheusRule"
    ]
    for alert in rule["spec"]["groups"][0]["rules"]:
        name = alert["alert"]
        assert alert["annotations"]["runbook_url"] == f"https://x/rb.md#{name.lower()}"
    failed = next(
        a for a in rule["spec"]["groups"][0]["rules"] if a["alert"] == "ModelDeploymentFailed"
    )
    assert failed["annotations"]["summary"].startswith(
        "{{ $labels.namespace }}/{{ $labels.modeldeployment }}"
    )  # left for Prometheus


def test_dashboards_are_config_maps_for_grafana_s_sidecar() -> None:
    assert "ConfigMap" not in {o["kind"] for o in helm_template()}
    maps = [
        o
        for o in helm_template(
            "grafana.dashboards.enabled=true", "grafana.dashboards.namespace=monitoring"
        )
        if o["kind"] == "ConfigMap"
    ]
    assert sorted(m["metadata"]["name"] for m in maps) == [
        f"{RELEASE}-operator-dashboard-{n}" for n in ("drift", "fleet", "model", "training")
    ]
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["namespace"] == "monitoring"
        assert config_map["metadata"]["annotations"]["grafana_folder"] == "modelpilot"
        ((key, text),) = config_map["data"].items()
        shipped = CHART / "dashboards" / key.removeprefix("modelpilot-")
        assert json.loads(text) == json.loads(shipped.read_text())


def test_pod_monitor_is_optional_and_selects_the_serving_pods() -> None:
    assert "PodMonitor" not in {o["kind"] for o in helm_template()}
    (monitor,) = [
        o for o in helm_template("metrics.podMonitor.enabled=true") if o["kind"] == "PodMonitor"
    ]
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/managed-by": "modelpilot",
        "modelpilot.dev/component": "serving",
    }
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "http"
    (listed,) = [
        o
        for o in helm_template(
            "metrics.podMonitor.enabled=true", "metrics.podMonitor.namespaces={ml,team-b}"
        )
        if o["kind"] == "PodMonitor"
    ]
    assert listed["spec"]["namespaceSelector"] == {"matchNames": ["ml", "team-b"]}


def test_service_monitor_is_optional() -> None:
    assert "ServiceMonitor" not in {o["kind"] for o in helm_template()}
    (monitor,) = [
        o
        for o in helm_template(
            "metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom"
        )
        if o["kind"] == "ServiceMonitor"
    ]
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    result = run(
        tool("helm"),
        "template",
        RELEASE,
        str(CHART),
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.service.enabled=false",
    )
    assert result.returncode != 0 and "metrics.service.enabled" in result.stderr


def test_rbac_and_service_account_can_be_brought_by_the_platform() -> None:
    objects = helm_template(
        "rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=platform-sa"
    )
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


def test_network_policy_lets_serving_pods_take_their_ports_and_trainers_only_dns() -> None:
    from modelpilot.api.names import GRPC_PORT, SERVING_PORT
    from modelpilot.operator.objects import PROBE_COMPONENT, labels

    policies = network_policies("networkPolicy.enabled=true", "watchNamespaces={ml,team-b}")
    kinds = ("serving", "training", "data-probe")
    assert set(policies) == {
        (ns, f"modelpilot-{kind}") for ns in ("ml", "team-b") for kind in kinds
    }
    serving = policies[("ml", "modelpilot-serving")]
    # The selectors pick exactly the pods the operator labels (issue 21 §6: on main no
    # policy matched the data probe, whose pods hold the dataset's credentials).
    for kind, component in (
        ("serving", "serving"),
        ("training", "trainer"),
        ("data-probe", PROBE_COMPONENT),
    ):
        selector = policies[("ml", f"modelpilot-{kind}")]["podSelector"]["matchLabels"]
        pod_labels = labels("iris", component=component, revision="v1")
        assert selector.items() <= pod_labels.items(), kind
    assert serving["policyTypes"] == ["Ingress"]
    # V1 and V2 REST on the HTTP port, V2 gRPC on its own (blocked on main).
    assert serving["ingress"] == [
        {
            "ports": [
                {"protocol": "TCP", "port": SERVING_PORT},
                {"protocol": "TCP", "port": GRPC_PORT},
            ]
        }
    ]
    for kind in ("training", "data-probe"):
        policy = policies[("ml", f"modelpilot-{kind}")]
        assert policy["policyTypes"] == ["Ingress", "Egress"]
        assert "ingress" not in policy  # nothing may connect to a trainer or a probe
        assert policy["egress"] == [
            {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
        ]


def test_network_policy_takes_the_platforms_peers_and_egress() -> None:
    policies = network_policies(
        "networkPolicy.enabled=true",
        "networkPolicy.namespaces={ml}",
        "networkPolicy.serving.from[0].namespaceSelector.matchLabels.role=gateway",
        "networkPolicy.training.egress[0].to[0].ipBlock.cidr=10.9.0.0/16",
    )
    assert set(policies) == {
        ("ml", "modelpilot-serving"),
        ("ml", "modelpilot-training"),
        ("ml", "modelpilot-data-probe"),
    }
    assert policies[("ml", "modelpilot-serving")]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"role": "gateway"}}}
    ]
    for kind in ("training", "data-probe"):
        assert policies[("ml", f"modelpilot-{kind}")]["egress"][1] == {
            "to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}]
        }


def test_network_policy_without_namespaces_is_refused_by_name() -> None:
    result = run(
        tool("helm"), "template", RELEASE, str(CHART), "--set", "networkPolicy.enabled=true"
    )
    assert result.returncode != 0
    assert "networkPolicy.namespaces" in result.stderr
