"""Installing with `kubectl apply -k`, as a platform team's overlay of manifests/default does.

Given an overlay that only renames (namePrefix, namespace) and narrows the operator to one
namespace — so this test shares the cluster with other suites safely — of manifests/default,
when it is applied with the real kubectl,
then the operator runs in-cluster in a `restricted` namespace and iris becomes Ready,
and `kubectl delete -k … -l app.kubernetes.io/component!=crd` leaves only the CRD (and the
user's ModelDeployment, which keeps its model serving).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helm_harness import EXAMPLE, predict, restricted_namespace, serving_pod
from kube import REPO, Kubectl, has_condition, wait_for

pytestmark = pytest.mark.e2e


def overlay(tmp: Path, prefix: str, system: str, watched: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": system,
        "namePrefix": f"{prefix}-",
        "resources": [os.path.relpath(REPO / "manifests" / "default", tmp)],
        "patches": [
            {
                "patch": yaml.safe_dump(
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {
                            "name": "modelpilot-operator",
                            "namespace": "modelpilot-system",
                        },
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {
                                            "name": "operator",
                                            "env": [
                                                {
                                                    "name": "MODELPILOT_WATCH_NAMESPACES",
                                                    "value": watched,
                                                }
                                            ],
                                        }
                                    ]
                                }
                            }
                        },
                    }
                )
            }
        ],
    }
    (tmp / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return tmp


@pytest.fixture
def models(kubectl: Kubectl) -> Iterator[str]:
    name = restricted_namespace(kubectl, f"kz-models-{uuid.uuid4().hex[:5]}")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_apply_k_installs_an_operator_that_serves_iris_and_delete_k_keeps_the_crd(
    kubectl: Kubectl, models: str, tmp_path: Path
) -> None:
    prefix = f"kz-{uuid.uuid4().hex[:5]}"
    system = f"{prefix}-system"
    folder = overlay(tmp_path / "overlay", prefix, system, models)
    operator = f"{prefix}-modelpilot-operator"

    try:
        kubectl("apply", "-k", str(folder))
        labels = kubectl.json("get", "namespace", system)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        kubectl(
            "rollout",
            "status",
            f"deployment/{operator}",
            "-n",
            system,
            "--timeout=120s",
            timeout=140,
        )
        (pod,) = kubectl.pods(system, "app.kubernetes.io/component=operator")
        assert pod["spec"]["serviceAccountName"] == operator

        kubectl("apply", "-n", models, "-f", str(EXAMPLE))
        kubectl(
            "wait",
            "-n",
            models,
            "--for=condition=Ready",
            "mdep/iris",
            "--timeout=240s",
            timeout=260,
        )
        assert predict(serving_pod(kubectl, models)["status"]["podIP"]) == 200
    finally:
        out = kubectl(
            "delete",
            "-k",
            str(folder),
            "-l",
            "app.kubernetes.io/component!=crd",
            "--wait=true",
            "--timeout=120s",
            timeout=140,
        ).stdout

    assert "customresourcedefinition" not in out, out
    assert f'namespace "{system}" deleted' in out, out
    wait_for(
        lambda: kubectl("get", "namespace", system, check=False).returncode != 0,
        timeout=90,
        what=f"namespace {system} gone",
    )
    left = [
        o["metadata"]["name"]
        for o in kubectl.json("get", "clusterroles,clusterrolebindings")["items"]
        if o["metadata"]["name"].startswith(prefix)
    ]
    assert left == []
    kubectl("get", "crd", "modeldeployments.modelpilot.dev")
    # The user's model outlives the operator: it still serves, and deletes cleanly.
    assert has_condition(kubectl.json("get", "mdep", "iris", "-n", models), "Ready")
    assert predict(serving_pod(kubectl, models)["status"]["podIP"]) == 200
    kubectl("delete", "mdep", "iris", "-n", models, "--timeout=60s")
