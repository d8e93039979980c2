"""Scenario 4: the gatewayAPI and istio routers on real CRDs. The Gateway API and Istio CRDs
are installed from the official Go modules' CRD files (fetched through the Go module proxy
once, cached under $MODELPILOT_CACHE); no mesh controller runs, so the test reads what a mesh
would act on: the weights on the HTTPRoute and the VirtualService, step by step, back to
stable on abort, all on the canary after promotion — and the routes' other rules untouched.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from canary_harness import CANARY, run_cli, wait_canary
from kube import Kubectl, cache_dir, wait_for
from operator_harness import EXAMPLES, Story

# The operator these scenarios drive is the chart's, in-cluster from its image (conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.in_cluster_operator]

# (module, version, CRD files inside it): the releases' own CRD definitions.
GATEWAY_API = (
    "sigs.k8s.io/gateway-api",
    "v1.2.1",
    ("config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",),
)
ISTIO_API = ("istio.io/api", "v1.24.2", ("kubernetes/customresourcedefinitions.gen.yaml",))


def module_files(module: str, version: str, files: tuple[str, ...]) -> list[Path]:
    """The module's files, from the cache or `go mod download` (the Go module proxy)."""
    dest = cache_dir() / "crds" / f"{module.replace('/', '_')}@{version}"
    wanted = [dest / Path(f).name for f in files]
    if all(p.exists() for p in wanted):
        return wanted
    go = shutil.which("go") or "/usr/local/go/bin/go"
    with tempfile.TemporaryDirectory() as scratch:  # outside any go.mod
        result = subprocess.run(
            [go, "mod", "download", "-json", f"{module}@{version}"],
            cwd=scratch,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, f"go mod download {module}@{version}:\n{result.stderr}"
    source = Path(json.loads(result.stdout)["Dir"])
    dest.mkdir(parents=True, exist_ok=True)
    for name, path in zip(files, wanted, strict=True):
        shutil.copyfile(source / name, path)
    return wanted


@pytest.fixture(scope="module")
def mesh_crds(kubectl: Kubectl) -> None:
    """The Gateway API's HTTPRoute and Istio's CRDs (a test asks for it by name, so it holds
    with either `operator`: the local process or the in-cluster one)."""
    for module in (GATEWAY_API, ISTIO_API):
        for path in module_files(*module):
            kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path), timeout=180)
    for crd in ("httproutes.gateway.networking.k8s.io", "virtualservices.networking.istio.io"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


def mesh_model(name: str, router: dict) -> dict:
    doc = copy.deepcopy(CANARY)
    doc["metadata"]["name"] = name
    doc["spec"]["serving"]["replicas"] = 1
    doc["spec"]["rollout"]["trafficRouter"] = router
    doc["spec"]["rollout"]["steps"] = [
        {"setWeight": 20},
        # Held until promoted: the two canaries advance concurrently, and a timed pause at 20%
        # could be over before a loaded machine's poll of the second one ever saw it.
        {"pause": {}},
        {"setWeight": 50},
        {"pause": {}},
    ]
    # No traffic flows without a mesh: windows of zero requests pass, so the steps advance.
    doc["spec"]["rollout"]["analysis"].update(minRequests=0, inconclusiveLimit=100)
    return doc


HTTP_ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "iris-gw"},
    "spec": {
        "parentRefs": [{"name": "public"}],
        "hostnames": ["models.example.com"],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/v1/models/iris-gw"}}],
                "backendRefs": [{"name": "iris-gw-v1", "port": 80}],
            },
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
                "filters": [
                    {
                        "type": "RequestHeaderModifier",
                        "requestHeaderModifier": {"add": [{"name": "x-team", "value": "ml"}]},
                    }
                ],
                "backendRefs": [{"name": "docs", "port": 8080}],
            },
        ],
    },
}
VIRTUAL_SERVICE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "iris-mesh"},
    "spec": {
        "hosts": ["iris-mesh"],
        "http": [
            {
                "name": "docs",
                "match": [{"uri": {"prefix": "/docs"}}],
                "route": [{"destination": {"host": "docs"}}],
                "retries": {"attempts": 3},
            },
            {
                "name": "predict",
                "match": [{"uri": {"prefix": "/v1/models"}}],
                "route": [{"destination": {"host": "iris-mesh-v1", "port": {"number": 80}}}],
                "timeout": "5s",
            },
        ],
    },
}


def http_route_weights(kubectl: Kubectl, namespace: str) -> dict[str, int]:
    route = kubectl.json("get", "httproute", "iris-gw", "-n", namespace)
    refs = route["spec"]["rules"][0]["backendRefs"]
    return {r["name"]: r.get("weight", 1) for r in refs}


def virtual_service_weights(kubectl: Kubectl, namespace: str) -> dict[str, int]:
    service = kubectl.json("get", "virtualservice", "iris-mesh", "-n", namespace)
    predict = next(h for h in service["spec"]["http"] if h["name"] == "predict")
    return {d["destination"]["host"]: d.get("weight", 100) for d in predict["route"]}


def test_route_weights_follow_the_steps_return_on_abort_and_keep_other_rules(
    mesh_crds, operator, kubectl, namespace, kube
):
    gw = Story(kubectl, namespace, name="iris-gw")
    mesh = Story(kubectl, namespace, name="iris-mesh")
    gw.apply(EXAMPLES / "canary" / "model-store.yaml")
    gw.apply(mesh_model("iris-gw", {"gatewayAPI": {"httpRoute": "iris-gw"}}))
    mesh.apply(
        mesh_model("iris-mesh", {"istio": {"virtualService": "iris-mesh", "route": "predict"}})
    )
    gw.wait_condition("Ready", timeout=240)
    mesh.wait_condition("Ready", timeout=240)
    kubectl.apply([HTTP_ROUTE, VIRTUAL_SERVICE], namespace)
    other_rule = kubectl.json("get", "httproute", "iris-gw", "-n", namespace)["spec"]["rules"][1]
    other_http = kubectl.json("get", "virtualservice", "iris-mesh", "-n", namespace)["spec"][
        "http"
    ][0]

    for name in ("iris-gw", "iris-mesh"):
        kubectl(
            "annotate", "mdep", name, "-n", namespace, "--overwrite",
            "modelpilot.dev/retrain-requested-at=mesh-test",
        )  # fmt: skip
    for story, weights, v1, v2 in (
        (gw, http_route_weights, "iris-gw-v1", "iris-gw-v2"),
        (mesh, virtual_service_weights, "iris-mesh-v1", "iris-mesh-v2"),
    ):
        wait_canary(story, f"{story.name} at 20%", lambda c: c.get("weight") == 20, timeout=300)
        wait_for(
            lambda weights=weights, v1=v1, v2=v2: weights(kubectl, namespace) == {v1: 80, v2: 20},
            timeout=30,
            what=f"{story.name} route 80/20",
        )
    for name in ("iris-gw", "iris-mesh"):
        assert run_cli(kube, "promote", name, "-n", namespace).returncode == 0
    for story, weights, v1, v2 in (
        (gw, http_route_weights, "iris-gw-v1", "iris-gw-v2"),
        (mesh, virtual_service_weights, "iris-mesh-v1", "iris-mesh-v2"),
    ):
        wait_canary(
            story,
            f"{story.name} paused at 50%",
            lambda c: c.get("paused") and c.get("weight") == 50,
            timeout=120,
        )
        assert weights(kubectl, namespace) == {v1: 50, v2: 50}

    # Abort the Gateway API canary: all traffic back to stable, the canary's backend removed.
    assert run_cli(kube, "abort", "iris-gw", "-n", namespace).returncode == 0
    gw.wait_phase("RolledBack", timeout=60)
    wait_for(
        lambda: http_route_weights(kubectl, namespace) == {"iris-gw-v1": 100},
        timeout=30,
        what="HTTPRoute back to stable",
    )
    # Promote the Istio canary: all traffic to the canary, the old backend removed.
    assert run_cli(kube, "promote", "iris-mesh", "--full", "-n", namespace).returncode == 0
    wait_for(
        lambda: mesh.status().get("stable", {}).get("revision") == "v2",
        timeout=90,
        what="iris-mesh v2 promoted",
    )
    wait_for(
        lambda: virtual_service_weights(kubectl, namespace) == {"iris-mesh-v2": 100},
        timeout=30,
        what="VirtualService on v2",
    )

    # One more Istio canary (v3 beside the new stable v2), aborted: back to v2 alone.
    kubectl(
        "annotate", "mdep", "iris-mesh", "-n", namespace, "--overwrite",
        "modelpilot.dev/retrain-requested-at=mesh-test-2",
    )  # fmt: skip
    wait_canary(
        mesh,
        "v3 at 20%",
        lambda c: c.get("revision") == "v3" and c.get("weight") == 20,
        timeout=300,
    )
    wait_for(
        lambda: (
            virtual_service_weights(kubectl, namespace) == {"iris-mesh-v2": 80, "iris-mesh-v3": 20}
        ),
        timeout=30,
        what="VirtualService 80/20 between v2 and v3",
    )
    assert run_cli(kube, "abort", "iris-mesh", "-n", namespace).returncode == 0
    mesh.wait_phase("RolledBack", timeout=60)
    wait_for(
        lambda: virtual_service_weights(kubectl, namespace) == {"iris-mesh-v2": 100},
        timeout=30,
        what="VirtualService back to v2",
    )

    route = kubectl.json("get", "httproute", "iris-gw", "-n", namespace)
    assert route["spec"]["rules"][1] == other_rule
    assert route["spec"]["hostnames"] == ["models.example.com"]
    service = kubectl.json("get", "virtualservice", "iris-mesh", "-n", namespace)
    assert service["spec"]["http"][0] == other_http
    assert service["spec"]["http"][1]["timeout"] == "5s"
    assert gw.condition("Ready")["status"] == "True"
    assert gw.condition("CanaryHealthy")["reason"] == "Aborted"
    wait_for(lambda: gw.names("deployments") == ["iris-gw-v1"], timeout=60, what="gw canary gone")
    wait_for(lambda: mesh.names("deployments") == ["iris-mesh-v2"], timeout=60, what="mesh v1 gone")
