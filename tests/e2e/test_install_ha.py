"""A platform install with a standby operator and its metrics, with the real helm, on the
local cluster.

A story in order (the tests share one release and run top to bottom):
given the chart installed with `replicaCount=2`, watching one models namespace,
then exactly one operator pod holds the Lease and the Service the chart creates serves the
operator's Prometheus metrics (`modelpilot_leader 1` from the leader, 0 from the standby);
when a canary sits at 50 % waiting for a person and the leader is killed without grace,
then the standby takes the Lease within 15 s and the canary is at the same step and
weights, and the new leader acts on it (a promote finishes the rollout) and reports it in
its metrics; when the ModelDeployment is deleted, its series leave /metrics.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from canary_harness import canary_status, run_cli, wait_canary
from helm_harness import CHART, Release, helm, pod_ready, restricted_namespace
from kube import Kubectl, wait_for
from operator_harness import EXAMPLES, Story
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e

TAKEOVER_SECONDS = 15


def canary_spec() -> dict:
    """The canary example, held at 50 % until `modelpilot promote` (one pod each side)."""
    doc = yaml.safe_load((EXAMPLES / "canary" / "iris-canary.yaml").read_text())
    doc = copy.deepcopy(doc)
    doc["spec"]["serving"]["replicas"] = 1
    doc["spec"]["rollout"]["steps"] = [{"setWeight": 50}, {"pause": {}}]
    # No load here: one window sets the baseline, the next would be far beyond this test.
    doc["spec"]["rollout"]["analysis"] = {"interval": "30m", "minRequests": 0}
    return doc


@pytest.fixture(scope="module")
def models(kubectl: Kubectl) -> Iterator[str]:
    name = restricted_namespace(kubectl, f"ha-models-{uuid.uuid4().hex[:5]}")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def release(k8s_bin: Path, kubectl: Kubectl, models: str) -> Iterator[Release]:
    name = f"mp-{uuid.uuid4().hex[:6]}"
    system = restricted_namespace(kubectl, f"{name}-system")
    helm(
        k8s_bin,
        kubectl,
        "install",
        name,
        str(CHART),
        "--namespace",
        system,
        "--wait",
        "--timeout",
        "180s",
        "--set",
        f"watchNamespaces={{{models}}}",
        "--set",
        "replicaCount=2",
    )
    yield Release(name, system, (models,))
    helm(k8s_bin, kubectl, "uninstall", name, "--namespace", system, "--wait")
    kubectl("delete", "namespace", system, "--wait=false", check=False)


def operator_pods(kubectl: Kubectl, release: Release) -> list[dict]:
    return [
        p
        for p in kubectl.pods(release.namespace, f"app.kubernetes.io/instance={release.name}")
        if not p["metadata"].get("deletionTimestamp")
    ]


def holder(kubectl: Kubectl, release: Release) -> str:
    """The pod whose operator holds the Lease ("" when nobody does)."""
    result = kubectl(
        "get", "lease", release.operator, "-n", release.namespace, "-o", "json", check=False
    )
    if result.returncode != 0:
        return ""
    identity = json.loads(result.stdout)["spec"].get("holderIdentity") or ""
    return identity.rsplit("_", 1)[0]


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=3) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metrics_url(kubectl: Kubectl, release: Release) -> str:
    service = kubectl.json("get", "service", f"{release.operator}-metrics", "-n", release.namespace)
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/metrics"


def scrape_leader(kubectl: Kubectl, release: Release) -> dict:
    """Through the chart's Service, which picks a pod per connection: until the leader
    answered (the standby answers too, with modelpilot_leader 0)."""
    url = metrics_url(kubectl, release)

    def leader_answers() -> dict | None:
        got = scrape(url)
        return got if got[("modelpilot_leader", ())] == 1 else None

    return wait_for(leader_answers, timeout=30, interval=0.2, what="the leader's /metrics")


def test_two_operator_pods_run_and_exactly_one_holds_the_lease(
    kubectl: Kubectl, release: Release
) -> None:
    pods = wait_for(
        lambda: (
            (ps := operator_pods(kubectl, release))
            and len(ps) == 2
            and all(pod_ready(p) for p in ps)
            and ps
        ),
        timeout=90,
        what="two Ready operator pods",
    )
    leader = wait_for(lambda: holder(kubectl, release), timeout=30, what="a Lease holder")
    assert leader in {p["metadata"]["name"] for p in pods}
    pdb = kubectl.json("get", "pdb", release.operator, "-n", release.namespace)
    assert pdb["spec"]["minAvailable"] == 1


def test_the_chart_s_service_serves_the_operator_metrics(
    kubectl: Kubectl, release: Release
) -> None:
    url = metrics_url(kubectl, release)
    leaders = set()
    for _ in range(20):  # both pods answer through the Service; only one leads
        leaders.add(scrape(url)[("modelpilot_leader", ())])
    assert leaders == {0.0, 1.0}
    got = scrape_leader(kubectl, release)
    names = {name for name, _ in got}
    for expected in (
        "modelpilot_reconcile_total",
        "modelpilot_reconcile_duration_seconds_bucket",
        "modelpilot_workqueue_depth",
        "modelpilot_workqueue_oldest_item_age_seconds",
        "modelpilot_modeldeployments",
        "modelpilot_trainings",
    ):
        assert expected in names, expected
    # The Lease renewals are API requests too, counted by verb, kind and code.
    assert (
        got[
            (
                "modelpilot_api_requests_total",
                (("code", "200"), ("kind", "Lease"), ("verb", "update")),
            )
        ]
        >= 1
    )


def test_killing_the_leader_mid_canary_hands_over_at_the_same_step_and_weights(
    kubectl: Kubectl, release: Release, models: str, kube: dict[str, str]
) -> None:
    story = Story(kubectl, models)
    story.apply(EXAMPLES / "canary" / "model-store.yaml")
    story.apply([canary_spec()])
    story.wait_phase("Serving", timeout=240)
    assert run_cli(kube, "retrain", "iris", "-n", models).returncode == 0
    before = wait_canary(
        story,
        "canary at 50 % waiting for promote",
        lambda c: c.get("weight") == 50 and c.get("stepIndex") == 1,
        timeout=240,
    )

    got = scrape_leader(kubectl, release)
    key = (("modeldeployment", "iris"), ("namespace", models))
    assert got[("modelpilot_modeldeployment_canary_weight_ratio", key)] == 0.5
    assert got[("modelpilot_modeldeployment_status_phase", (*key, ("phase", "Canary")))] == 1
    assert got[("modelpilot_modeldeployment_stable_revision_info", (*key, ("revision", "v1")))] == 1
    score = (
        "modelpilot_modeldeployment_gate_score",
        (("metric", "accuracy"), *key, ("revision", "v2")),
    )
    assert score in got

    old = holder(kubectl, release)
    assert old in {p["metadata"]["name"] for p in operator_pods(kubectl, release)}, old
    killed = time.monotonic()
    kubectl(
        "delete", "pod", old, "-n", release.namespace, "--grace-period=0", "--force", "--wait=false"
    )
    # Any other operator pod may win the expired Lease: the standby, or the pod the
    # Deployment starts in the killed one's place (both wait on it; CI saw the new one win).
    wait_for(
        lambda: holder(kubectl, release) not in (old, "") or None,
        timeout=TAKEOVER_SECONDS + 15,
        interval=0.2,
        what="another operator pod holding the Lease",
    )
    took = time.monotonic() - killed
    assert took <= TAKEOVER_SECONDS, f"the standby took over after {took:.1f}s"

    # It resumes where the leader was: same step, same weights, nothing rewound.
    weight = ("modelpilot_modeldeployment_canary_weight_ratio", key)

    def ticked() -> dict | None:
        metrics = scrape_leader(kubectl, release)
        return metrics if weight in metrics else None

    got = wait_for(ticked, timeout=30, what="the new leader's first tick of iris in its metrics")
    assert got[weight] == 0.5
    after = canary_status(story)
    for field in ("stepIndex", "weight", "stableReplicas", "canaryReplicas", "revision"):
        assert after.get(field) == before.get(field), field
    assert story.names("jobs") == ["iris-train-v1", "iris-train-v2"]

    # And it acts: a promote finishes the rollout.
    assert run_cli(kube, "promote", "iris", "--full", "-n", models).returncode == 0
    story.wait_phase("Serving", timeout=120)
    assert story.status()["stable"]["revision"] == "v2"
    print(f"takeover after the leader was killed: {took:.1f}s")


def test_a_deleted_model_deployment_leaves_the_metrics(
    kubectl: Kubectl, release: Release, models: str
) -> None:
    kubectl("delete", "mdep", "iris", "-n", models, "--timeout=60s")

    def gone() -> bool:
        got = scrape_leader(kubectl, release)
        return not [k for k in got if ("modeldeployment", "iris") in k[1]]

    wait_for(gone, timeout=30, what="iris's series gone from /metrics")
