"""Installing modelpilot as a platform team does, with the real helm, on the local cluster.

A story in order (the tests share one release and run top to bottom):
given two namespaces that enforce the `restricted` Pod Security Standard, one for the
operator and one for models,
when the chart is installed limited to the models namespace,
then the operator runs in-cluster under its own ServiceAccount (not the admin kubeconfig),
and the iris example trains, gates and serves there — every pod modelpilot creates admitted
by `restricted`;
when `helm upgrade` changes a value, the operator is replaced and the model keeps serving
every request;
when `helm uninstall` runs, nothing of the release is left but the CRD, and the model still
serves (it belongs to its ModelDeployment, not to the release).

The chart's helpers (install, the in-cluster operator, predictions) are in helm_harness.py.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helm_harness import (
    CHART,
    EXAMPLE,
    Prober,
    Release,
    helm,
    install_release,
    operator_pod,
    pod_ready,
    predict,
    remove_release,
    restricted_namespace,
    serving_pod,
)
from kube import Kubectl, has_condition, local_processes, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def models(kubectl: Kubectl) -> Iterator[str]:
    name = restricted_namespace(kubectl, f"helm-models-{uuid.uuid4().hex[:5]}")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def release(k8s_bin: Path, kubectl: Kubectl, models: str) -> Iterator[Release]:
    """One release for the story; the last test uninstalls it (or this does, on failure)."""
    release = install_release(k8s_bin, kubectl, models)
    yield release
    remove_release(k8s_bin, kubectl, release)


def test_helm_install_runs_the_operator_in_cluster_and_iris_becomes_ready(
    kubectl: Kubectl, release: Release, models: str
) -> None:
    pod = operator_pod(kubectl, release)
    assert pod_ready(pod), pod["status"]
    assert pod["spec"]["serviceAccountName"] == release.operator

    kubectl("apply", "-n", models, "-f", str(EXAMPLE))
    kubectl(
        "wait", "-n", models, "--for=condition=Ready", "mdep/iris", "--timeout=240s", timeout=260
    )

    mdep = kubectl.json("get", "mdep", "iris", "-n", models)
    assert mdep["status"]["stable"]["revision"] == "v1"
    assert predict(serving_pod(kubectl, models)["status"]["podIP"]) == 200


def test_modelpilot_version_reports_the_operator_it_reaches(
    kubectl: Kubectl, release: Release
) -> None:
    """The CLI asks the operator itself (its /metrics, through the API server's pod proxy)."""
    version = importlib.metadata.version("modelpilot")
    pod = operator_pod(kubectl, release)["metadata"]["name"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelpilot.cli",
            "version",
            "--kubeconfig",
            str(kubectl.kubeconfig),
            "-n",
            release.namespace,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"client:   {version}",
        f"operator: {version}  ({release.namespace}/{pod})",
    ]


def test_the_operator_uses_its_own_service_account_token(
    kubectl: Kubectl, release: Release
) -> None:
    """The operator process has no kubeconfig: only the in-cluster env and the SA token."""
    pod = operator_pod(kubectl, release)
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    token_volumes = [
        v
        for v in volumes.values()
        if any("serviceAccountToken" in s for s in v.get("projected", {}).get("sources", []))
    ]
    assert token_volumes, "the operator pod must mount its ServiceAccount token"
    environs = []
    for pid in local_processes("modelpilot operator"):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        env = dict(e.decode(errors="replace").partition("=")[::2] for e in environ if b"=" in e)
        if env.get("HOSTNAME") == pod["metadata"]["name"]:
            environs.append(env)
    assert environs, "no local process runs the operator pod"
    for env in environs:
        assert "KUBECONFIG" not in env
        assert env.get("KUBERNETES_SERVICE_HOST")


def test_every_pod_modelpilot_creates_is_admitted_by_restricted(
    kubectl: Kubectl, release: Release, models: str
) -> None:
    for ns in (release.namespace, models):
        labels = kubectl.json("get", "namespace", ns)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    components = {
        p["metadata"]["labels"].get("modelpilot.dev/component") for p in kubectl.pods(models)
    }
    assert {"trainer", "serving"} <= components, components
    # A pod `restricted` refuses is never created: its controller records FailedCreate.
    events = kubectl.json("get", "events", "-n", models)["items"]
    events += kubectl.json("get", "events", "-n", release.namespace)["items"]
    refused = [e["message"] for e in events if e.get("reason") == "FailedCreate"]
    assert not refused, refused


def test_helm_upgrade_rolls_the_operator_without_disturbing_serving(
    k8s_bin: Path, kubectl: Kubectl, release: Release, models: str
) -> None:
    before = operator_pod(kubectl, release)
    serving = serving_pod(kubectl, models)
    with Prober(serving["status"]["podIP"]).running() as prober:
        helm(
            k8s_bin,
            kubectl,
            "upgrade",
            release.name,
            str(CHART),
            "--namespace",
            release.namespace,
            "--reuse-values",
            "--wait",
            "--timeout",
            "180s",
            "--set",
            "estimatorAllowlist={sklearn.ensemble.*,sklearn.linear_model.*}",
        )
        after = wait_for(
            lambda: (
                (p := operator_pod(kubectl, release))["metadata"]["uid"]
                != before["metadata"]["uid"]
                and pod_ready(p)
                and p
            ),
            timeout=120,
            what="the upgraded operator pod Ready",
        )
        time.sleep(1)  # a few more requests while the new operator reconciles
    env = {e["name"]: e.get("value") for e in after["spec"]["containers"][0]["env"]}
    assert env["MODELPILOT_ESTIMATOR_ALLOWLIST"] == "sklearn.ensemble.*,sklearn.linear_model.*"
    assert len(prober.statuses) >= 20, "the prober hardly ran"
    assert set(prober.statuses) == {200}, {s: prober.statuses.count(s) for s in prober.statuses}
    # The same serving pod, never restarted; the model is still Ready.
    still = serving_pod(kubectl, models)
    assert still["metadata"]["uid"] == serving["metadata"]["uid"]
    assert has_condition(kubectl.json("get", "mdep", "iris", "-n", models), "Ready")


def test_helm_uninstall_leaves_only_the_crd(
    k8s_bin: Path, kubectl: Kubectl, release: Release, models: str
) -> None:
    out = helm(
        k8s_bin, kubectl, "uninstall", release.name, "--namespace", release.namespace, "--wait"
    )
    assert "uninstalled" in out
    selector = f"app.kubernetes.io/instance={release.name}"
    kinds = "deployments,services,serviceaccounts,rolebindings,pods"
    for ns in (release.namespace, models):
        left = wait_for(
            lambda ns=ns: not kubectl.json("get", kinds, "-n", ns, "-l", selector)["items"],
            timeout=60,
            what=f"release objects gone from {ns}",
        )
        assert left
    cluster_left = kubectl.json("get", "clusterroles,clusterrolebindings", "-l", selector)
    assert cluster_left["items"] == []
    # What stays: the API, and the user's model, which keeps serving.
    kubectl("get", "crd", "modeldeployments.modelpilot.dev")
    assert predict(serving_pod(kubectl, models)["status"]["podIP"]) == 200
    mdep = kubectl.json("get", "mdep", "iris", "-n", models)
    assert not mdep["metadata"].get("finalizers"), "a finalizer would block deletion forever"
    kubectl("delete", "mdep", "iris", "-n", models, "--timeout=60s")


def test_helm_template_output_validates_against_the_apiserver(
    k8s_bin: Path, kubectl: Kubectl, models: str
) -> None:
    """`kubectl apply --dry-run=server` accepts everything the chart renders."""
    ns = f"dry-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", ns)
    try:
        for values in ((), (f"watchNamespaces={{{models}}}",)):
            args = ["template", "dry", str(CHART), "--namespace", ns]
            for v in values:
                args += ["--set", v]
            rendered = helm(k8s_bin, kubectl, *args)
            # A generator is always true: parse every document and name what must be there.
            kinds = {d["kind"] for d in yaml.safe_load_all(rendered) if d}
            assert {"Deployment", "ServiceAccount", "Service"} <= kinds, kinds
            kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered)
            kubectl("apply", "--dry-run=server", "-f", str(CHART / "crds"))
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", check=False)
