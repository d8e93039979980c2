"""The CRD on a real apiserver: bad specs are refused by `kubectl apply` with the field named
(one per CEL rule, a few schema errors), and every status field the operator writes survives
the apiserver's pruning."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from api_samples import full_status
from kube import Kubectl
from operator_harness import EXAMPLES, install_crd

from modelpilot.api.status import dump_status, parse_status

pytestmark = pytest.mark.e2e

IRIS = yaml.safe_load((EXAMPLES / "iris" / "iris.yaml").read_text())


def with_spec(path: str, value: object) -> dict:
    doc = copy.deepcopy(IRIS)
    *parents, leaf = path.split(".")
    node = doc["spec"]
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return doc


INVALID = [
    pytest.param(
        with_spec("training.dataset", {"builtin": "iris", "uri": "/x.csv"}),
        "spec.training.dataset needs exactly one of builtin, uri or pvc",
        id="two-sources",
    ),
    pytest.param(
        with_spec("training.dataset", {}),
        "spec.training.dataset needs exactly one of builtin, uri or pvc",
        id="no-source",
    ),
    pytest.param(
        with_spec("training.dataset", {"uri": "/x.csv"}),
        "spec.training.dataset.target is required",
        id="uri-without-target",
    ),
    pytest.param(
        with_spec("evaluation.threshold", 1.5),
        "spec.evaluation.threshold must be within [0, 1]",
        id="bounded-threshold",
    ),
    pytest.param(
        with_spec("rollout.steps", [{"setWeight": 50}, {"setWeight": 20}]),
        "setWeight values must strictly increase",
        id="weights-decrease",
    ),
    pytest.param(
        with_spec("rollout.steps", [{"setWeight": 20}, {"setWeight": 20}]),
        "setWeight values must strictly increase",
        id="weights-repeat",
    ),
    pytest.param(
        with_spec("rollout.steps", [{"setWeight": 20, "pause": {}}]),
        "exactly one of setWeight, pause or setHeaderRoute",
        id="step-both",
    ),
    pytest.param(
        with_spec("rollout.trafficRouter", {"replicas": {}, "istio": {"virtualService": "vs"}}),
        "spec.rollout.trafficRouter needs exactly one of",
        id="two-routers",
    ),
    pytest.param(
        with_spec("training.schedule", "every day"),
        "spec.training.schedule is not a five-field cron",
        id="bad-cron",
    ),
    pytest.param(
        with_spec("rollout.steps", [{"setWeight": 120}]),
        "spec.rollout.steps[0].setWeight",
        id="weight-above-100",
    ),
    pytest.param(
        with_spec("evaluation.metric", "precision_at_3"),
        "spec.evaluation.metric",
        id="unknown-metric",
    ),
    pytest.param(with_spec("training.testSize", 1.5), "spec.training.testSize", id="test-size"),
    pytest.param(with_spec("serving.replicas", 0), "spec.serving.replicas", id="replicas"),
    pytest.param(
        with_spec("rollout.analysis", {"interval": "soon"}),
        "spec.rollout.analysis.interval",
        id="duration",
    ),
    pytest.param(
        with_spec("serving.resources", {"requests": {"cpu": "lots"}}),
        "spec.serving.resources.requests.cpu",
        id="cpu-lots-is-no-quantity",
    ),
    pytest.param(
        with_spec("training.resources", {"limits": {"memory": "2 GB"}}),
        "spec.training.resources.limits.memory",
        id="memory-with-a-space",
    ),
    pytest.param(
        with_spec("serving.pod", {"labels": {"modelpilot.dev/revision": "v9"}}),
        "pod.labels may not set modelpilot.dev/* or app.kubernetes.io/* keys",
        id="pod-label-the-selector-relies-on",
    ),
    pytest.param(
        with_spec("training.pod", {"tolerations": [{"key": "k", "effect": "Sometimes"}]}),
        "spec.training.pod.tolerations[0].effect",
        id="toleration-effect",
    ),
]

VALID = [
    pytest.param(
        with_spec("serving.resources", {"requests": {"cpu": 1, "memory": "256Mi"}}),
        id="cpu-as-an-integer",
    ),
    pytest.param(
        with_spec("training.resources", {"requests": {"cpu": "1.5"}, "limits": {"memory": "2G"}}),
        id="decimal-and-si-quantities",
    ),
    pytest.param(
        with_spec(
            "serving.pod",
            {
                "nodeSelector": {"pool": "models"},
                "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                "affinity": {"nodeAffinity": {}},
                "topologySpreadConstraints": [
                    {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}
                ],
                "priorityClassName": "models-high",
                "serviceAccountName": "s3-reader",
                "imagePullSecrets": [{"name": "registry"}],
                "labels": {"team": "fraud"},
                "annotations": {"cost-center": "42"},
            },
        ),
        id="every-pod-placement-field",
    ),
]


@pytest.fixture(scope="module", autouse=True)
def crd(kubectl: Kubectl) -> None:
    install_crd(kubectl)


@pytest.mark.parametrize(("doc", "message"), INVALID)
def test_invalid_spec_is_refused_naming_the_field(kubectl, namespace, doc, message):
    result = kubectl.apply(doc, namespace, check=False)
    assert result.returncode != 0, f"accepted:\n{yaml.safe_dump(doc['spec'])}"
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize("doc", VALID)
def test_valid_spec_is_accepted_and_kept_as_written(kubectl, namespace, doc):
    kubectl.apply(doc, namespace)
    back = kubectl.json("get", "mdep", "iris", "-n", namespace)["spec"]
    for section in ("training", "serving"):
        for key in ("resources", "pod"):
            if key in doc["spec"][section]:
                assert back[section][key] == doc["spec"][section][key]


def test_every_status_field_survives_pruning(kubectl, namespace):
    """A full status (canary and analysis windows included) written through the status
    subresource reads back identical: nothing the operator writes is pruned."""
    kubectl.apply(IRIS, namespace)
    body = kubectl.json("get", "mdep", "iris", "-n", namespace)
    body["status"] = dump_status(full_status())
    kubectl("replace", "--subresource=status", "-n", namespace, "-f", "-", stdin=json.dumps(body))
    back = kubectl.json("get", "mdep", "iris", "-n", namespace)["status"]
    assert back == body["status"]
    assert parse_status(back) == full_status()
