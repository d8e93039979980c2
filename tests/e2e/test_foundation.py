"""The test bed is real: CRD validation, Deployments that serve, Jobs, garbage collection,
RBAC and shared volumes, each through the real kubectl against the local control plane.

If one of these fails, every other e2e result is suspect: they prove that the binaries built
from the module proxy form a working cluster and that the node runs pods as a kubelet should.
"""

from __future__ import annotations

import json
import uuid

import pytest
from kube import (
    Kubectl,
    condition,
    has_condition,
    http_get,
    local_processes,
    termination_message,
    wait_for,
)
from workloads import hello_deployment

pytestmark = pytest.mark.e2e

# The node runs the image: `python:3.11-slim` (the base of our images, under the name a user's
# build pulls) for plain Python, our operator image where the `kubernetes` client is needed.
OPERATOR_IMAGE = "modelpilot/operator:dev"


def job(
    name: str,
    script: str,
    *,
    backoff_limit: int = 0,
    image: str = "python:3.11-slim",
    **pod_spec: object,
) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "command": ["python", "-c", script],
                        }
                    ],
                    **pod_spec,
                }
            },
        },
    }


def job_pods(kubectl: Kubectl, namespace: str, name: str) -> list[dict]:
    return kubectl.pods(namespace, f"job-name={name}")


# --------------------------------------------------------------------------- 1. CRD + CEL


def test_crd_validation_rule_rejects_an_invalid_object_by_its_message(kubectl: Kubectl) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.e2e.modelpilot.dev"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "replicas": {"type": "integer", "minimum": 0},
                                        "minReplicas": {"type": "integer", "minimum": 0},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.minReplicas <= self.replicas",
                                            "message": "minReplicas must not exceed replicas",
                                            "fieldPath": ".minReplicas",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    kubectl.apply(crd)
    try:
        kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=30s")
        widget = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "default"},
        }

        refused = kubectl.apply({**widget, "spec": {"replicas": 1, "minReplicas": 3}}, check=False)
        assert refused.returncode != 0
        assert "minReplicas must not exceed replicas" in refused.stderr
        assert "spec.minReplicas" in refused.stderr

        kubectl.apply({**widget, "spec": {"replicas": 3, "minReplicas": 1}})
        stored = kubectl.json("get", f"widgets.{group}", "w", "-n", "default")
        assert stored["spec"] == {"replicas": 3, "minReplicas": 1}
    finally:
        kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


# --------------------------------------------------------------------------- 2. Deployment


def test_deployment_replicas_serve_on_their_own_pod_ips(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(hello_deployment("hello", replicas=2), namespace)
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "hello"},
            "spec": {"selector": {"app": "hello"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
        namespace,
    )

    kubectl("rollout", "status", "deployment/hello", "-n", namespace, "--timeout=60s")
    pods = kubectl.pods(namespace, "app=hello")
    assert len(pods) == 2
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 2, "each pod has its own IP"
    assert all(has_condition(p, "Ready") for p in pods)

    def ready_endpoints() -> set[str]:
        slices = kubectl.json(
            "get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=hello"
        )["items"]
        return {
            addr
            for s in slices
            for ep in s.get("endpoints") or []
            if ep.get("conditions", {}).get("ready")
            for addr in ep["addresses"]
        }

    wait_for(lambda: ready_endpoints() == ips, timeout=30, what="EndpointSlice lists both pods")
    # Both listen on 8080; each answers on its own IP with its own name.
    for pod in pods:
        status, body = http_get(f"http://{pod['status']['podIP']}:8080/")
        assert (status, body) == (200, pod["metadata"]["name"])


# --------------------------------------------------------------------------- 3. Jobs


def test_job_reports_its_termination_message_and_completes(
    kubectl: Kubectl, namespace: str
) -> None:
    script = (
        "import json\n"
        "open('/dev/termination-log', 'w').write(json.dumps({'accuracy': 0.97, 'version': 'v1'}))\n"
    )
    kubectl.apply(job("train", script), namespace)
    kubectl("wait", "--for=condition=Complete", "job/train", "-n", namespace, "--timeout=60s")
    (pod,) = job_pods(kubectl, namespace, "train")
    assert pod["status"]["phase"] == "Succeeded"
    assert json.loads(termination_message(pod) or "") == {"accuracy": 0.97, "version": "v1"}
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_failing_job_is_failed_after_backoff_limit(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(job("broken", "import sys; sys.exit(1)", backoff_limit=1), namespace)
    kubectl("wait", "--for=condition=Failed", "job/broken", "-n", namespace, "--timeout=120s")
    failed = kubectl.json("get", "job", "broken", "-n", namespace)
    assert condition(failed, "Failed")["reason"] == "BackoffLimitExceeded"
    pods = job_pods(kubectl, namespace, "broken")
    assert len(pods) == 2, "the first try and one retry"
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")


# --------------------------------------------------------------------------- 4. GC


def test_deleting_a_deployment_collects_its_replicaset_pods_and_processes(
    kubectl: Kubectl, namespace: str
) -> None:
    marker = f"gc-marker-{uuid.uuid4().hex}"
    kubectl.apply(hello_deployment("doomed", replicas=2, marker=marker), namespace)
    kubectl("rollout", "status", "deployment/doomed", "-n", namespace, "--timeout=60s")
    assert len(local_processes(marker)) == 2, "each replica is a local process"
    assert kubectl.json("get", "replicasets", "-n", namespace, "-l", "app=doomed")["items"]

    kubectl("delete", "deployment", "doomed", "-n", namespace, "--cascade=background")

    wait_for(
        lambda: (
            not kubectl.json("get", "replicasets", "-n", namespace, "-l", "app=doomed")["items"]
        ),
        timeout=30,
        what="the ReplicaSet is garbage-collected",
    )
    wait_for(
        lambda: not kubectl.pods(namespace, "app=doomed"),
        timeout=30,
        what="the pods are garbage-collected",
    )
    wait_for(lambda: not local_processes(marker), timeout=10, what="the processes are gone")


# --------------------------------------------------------------------------- 5. RBAC

IN_CLUSTER_CLIENT = """
import json
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_incluster_config()
v1 = client.CoreV1Api()
result = {"pods": [p.metadata.name for p in v1.list_namespaced_pod(NAMESPACE).items]}
try:
    v1.list_namespaced_secret(NAMESPACE)
    result["secrets"] = "allowed"
except ApiException as err:
    result["secrets"] = err.status
open("/dev/termination-log", "w").write(json.dumps(result))
"""


def test_rbac_is_enforced_for_a_service_account_in_a_pod(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "pod-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "reader-reads-pods"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "pod-reader",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
            },
        ],
        namespace,
    )
    user = f"--as=system:serviceaccount:{namespace}:reader"

    def can_i(verb: str, resource: str) -> str:
        out = kubectl("auth", "can-i", verb, resource, "-n", namespace, user, check=False)
        return out.stdout.strip()

    assert can_i("list", "pods") == "yes"
    assert can_i("delete", "pods") == "no"
    assert can_i("list", "secrets") == "no"

    script = IN_CLUSTER_CLIENT.replace("NAMESPACE", repr(namespace))
    # The operator's image carries the official client (the plain Python image does not).
    kubectl.apply(
        job("in-cluster", script, image=OPERATOR_IMAGE, serviceAccountName="reader"), namespace
    )
    kubectl("wait", "--for=condition=Complete", "job/in-cluster", "-n", namespace, "--timeout=60s")
    (pod,) = job_pods(kubectl, namespace, "in-cluster")
    result = json.loads(termination_message(pod) or "{}")
    assert pod["metadata"]["name"] in result["pods"], "listing pods is allowed"
    assert result["secrets"] == 403, "listing secrets is refused"


# --------------------------------------------------------------------------- 6. PVC


def test_two_pods_share_a_persistent_volume_claim(kubectl: Kubectl, namespace: str) -> None:
    content = f"written by the first pod {uuid.uuid4().hex}"
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "shared"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Mi"}},
            },
        },
        namespace,
    )

    def pod(name: str, script: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "shared"}}],
                "containers": [
                    {
                        "name": "main",
                        "image": "python:3.11-slim",
                        "command": ["python", "-c", script],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
            },
        }

    kubectl.apply(pod("writer", f"open('/data/note.txt', 'w').write({content!r})"), namespace)
    kubectl(
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/writer",
        "-n",
        namespace,
        "--timeout=60s",
    )
    kubectl.apply(
        pod("reader", "import shutil; shutil.copy('/data/note.txt', '/dev/termination-log')"),
        namespace,
    )
    kubectl(
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/reader",
        "-n",
        namespace,
        "--timeout=60s",
    )

    reader = kubectl.json("get", "pod", "reader", "-n", namespace)
    assert termination_message(reader) == content
    claim = kubectl.json("get", "pvc", "shared", "-n", namespace)
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["storageClassName"] == "standard"
