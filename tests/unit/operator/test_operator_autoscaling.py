"""spec.serving.autoscaling: an HPA for the stable Deployment, whose replicas the operator
never overwrites, and a canary share taken from what stable runs now."""

from __future__ import annotations

import copy

import pytest
from canary_walk import NAME, NS, SPEC, Walk

from modelpilot.api.spec import parse_spec
from modelpilot.operator.autoscaling import hpa_spec, quantity

AUTOSCALED = copy.deepcopy(SPEC)
AUTOSCALED["serving"] = {
    "replicas": 2,
    "autoscaling": {"minReplicas": 2, "maxReplicas": 6, "targetCPUUtilizationPercentage": 70},
}


def hpa(w: Walk) -> dict | None:
    return w.cluster.get("HorizontalPodAutoscaler", NS, NAME)


def scale_by_hpa(w: Walk, deployment: str, replicas: int) -> None:
    """What the HPA controller does: the Deployment's replicas, then its pods Ready."""
    w.cluster.patch("Deployment", NS, deployment, {"spec": {"replicas": replicas}})
    w.cluster.make_ready(NS, deployment)


def deployment_writes(w: Walk) -> list[tuple[str, str, str]]:
    return [c for c in w.cluster.calls if c[1] == "Deployment" and c[0] != "create"]


def test_without_the_field_there_is_no_hpa_and_replicas_are_the_spec_s():
    w = Walk()
    assert hpa(w) is None
    scale_by_hpa(w, "iris-v1", 5)
    w.tick()
    assert w.replicas("iris-v1") == 2, "without autoscaling the spec's replicas win"


def test_the_hpa_targets_the_stable_deployment_with_the_spec_s_bounds_and_target():
    w = Walk(AUTOSCALED)
    got = hpa(w)
    assert got is not None
    assert got["apiVersion"] == "autoscaling/v2"
    assert got["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "iris-v1",
    }
    assert (got["spec"]["minReplicas"], got["spec"]["maxReplicas"]) == (2, 6)
    assert got["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 70,
    }
    assert got["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"


def test_the_operator_leaves_the_replicas_the_hpa_set_alone():
    w = Walk(AUTOSCALED)
    scale_by_hpa(w, "iris-v1", 5)
    writes = len(deployment_writes(w))
    hpa_writes = [c for c in w.cluster.calls if c[1] == "HorizontalPodAutoscaler"]
    w.ticks(3)
    assert w.replicas("iris-v1") == 5
    assert len(deployment_writes(w)) == writes
    assert [c for c in w.cluster.calls if c[1] == "HorizontalPodAutoscaler"] == hpa_writes
    assert w.status().condition("Ready").status == "True"


def test_a_canary_s_share_follows_stable_s_current_replicas_and_the_hpa_moves_at_promotion():
    w = Walk(AUTOSCALED)
    scale_by_hpa(w, "iris-v1", 5)
    w.start_canary()
    # 20 % of the 5 pods stable runs now: ceil(1.0) = 1 canary pod; stable stays at 5.
    assert (w.replicas("iris-v1"), w.replicas("iris-v2")) == (5, 1)
    w.ready("v2")
    w.until(lambda: w.canary().step_index == 2)
    scale_by_hpa(w, "iris-v1", 6)  # load grew during the pause
    w.tick()
    # 50 % of the 6 stable runs now: three canary pods, scaled ahead of the weight.
    assert (w.replicas("iris-v1"), w.replicas("iris-v2")) == (6, 3)
    w.until(lambda: w.ready("v2") or w.canary().step_index == 3)
    assert w.canary().weight == 50
    w.until(lambda: w.ready("v2") or w.status().phase == "Serving")
    assert w.status().stable.revision == "v2"
    w.tick()
    got = hpa(w)
    assert got is not None and got["spec"]["scaleTargetRef"]["name"] == "iris-v2"
    assert w.replicas("iris-v2") == 6


def test_dropping_the_field_deletes_the_hpa_and_the_spec_s_replicas_return():
    w = Walk(AUTOSCALED)
    scale_by_hpa(w, "iris-v1", 5)
    w.spec = copy.deepcopy(SPEC)
    w.cluster.apply_model_deployment(NS, NAME, w.spec)
    w.ticks(2)
    assert hpa(w) is None
    assert w.replicas("iris-v1") == 2


@pytest.mark.parametrize(
    ("autoscaling", "problem"),
    [
        ({"maxReplicas": 3}, "exactly one of targetCPUUtilizationPercentage"),
        (
            {"maxReplicas": 3, "targetCPUUtilizationPercentage": 50, "targetRequestsPerSecond": 5},
            "exactly one of targetCPUUtilizationPercentage",
        ),
        (
            {"minReplicas": 4, "maxReplicas": 3, "targetRequestsPerSecond": 5},
            "minReplicas 4 exceeds maxReplicas 3",
        ),
    ],
    ids=["no-target", "two-targets", "min-above-max"],
)
def test_bad_autoscaling_is_refused_naming_the_problem(autoscaling: dict, problem: str):
    spec = copy.deepcopy(SPEC)
    spec["serving"] = {"autoscaling": autoscaling}
    with pytest.raises(ValueError, match=problem):
        parse_spec(spec)


@pytest.mark.parametrize(("rps", "text"), [(2.5, "2500m"), (5, "5"), (0.1, "100m")])
def test_requests_per_second_target_is_a_canonical_quantity(rps: float, text: str):
    scaling = parse_spec(
        {**SPEC, "serving": {"autoscaling": {"maxReplicas": 3, "targetRequestsPerSecond": rps}}}
    ).serving.autoscaling
    assert scaling is not None
    assert quantity(rps) == text
    metric = hpa_spec(scaling, "iris-v1")["metrics"][0]
    assert metric["pods"]["metric"]["name"] == "modelpilot_requests_per_second"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": text}
