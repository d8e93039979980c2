"""The local node behaves like a kubelet where the operator relies on it: Services and DNS
(hack/nodeagent's proxy beside the kubelet), `kubectl logs`, clear reasons for containers that
cannot start, probes that restart, and graceful termination.
"""

from __future__ import annotations

import time
import uuid

import pytest
from kube import Kubectl, http_get, local_processes, termination_message, wait_for
from workloads import hello_deployment

pytestmark = pytest.mark.e2e


def pod(name: str, script: str, **spec: object) -> dict:
    container = {"name": "main", "image": "python:3.11-slim", "command": ["python", "-c", script]}
    container.update(spec.pop("container", {}))  # type: ignore[arg-type]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def test_cluster_ip_spreads_connections_and_dns_names_the_service(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(hello_deployment("hello", replicas=2), namespace)
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "hello"},
            "spec": {
                "selector": {"app": "hello"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
        namespace,
    )
    kubectl("rollout", "status", "deployment/hello", "-n", namespace, "--timeout=60s")
    names = {p["metadata"]["name"] for p in kubectl.pods(namespace, "app=hello")}
    cluster_ip = kubectl.json("get", "service", "hello", "-n", namespace)["spec"]["clusterIP"]

    seen: set[str] = set()
    wait_for(
        lambda: seen.add(http_get(f"http://{cluster_ip}/")[1]) or seen >= names,
        timeout=30,
        interval=0.05,
        what=f"both replicas answer on {cluster_ip}:80",
    )

    script = (
        "import socket, urllib.request\n"
        "ip = socket.gethostbyname('hello')\n"
        f"full = socket.gethostbyname('hello.{namespace}.svc.cluster.local')\n"
        "body = urllib.request.urlopen('http://hello/', timeout=5).read().decode()\n"
        "open('/dev/termination-log', 'w').write(f'{ip} {full} {body}')\n"
    )
    kubectl.apply(pod("client", script), namespace)
    kubectl(
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/client",
        "-n",
        namespace,
        "--timeout=60s",
    )
    ip, full, body = termination_message(
        kubectl.json("get", "pod", "client", "-n", namespace)
    ).split()
    assert ip == full == cluster_ip
    assert body in names


def test_kubectl_logs_shows_the_container_output(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        pod(
            "talker",
            # Flushed: a container's stdout is a pipe, so Python would buffer it until exit
            # and the stderr line would come first. Apart: containerd reads the two pipes
            # separately, so lines written a moment apart may be logged in either order.
            "import sys, time; print('hello from the pod', flush=True); time.sleep(0.5); "
            "print('and stderr', file=sys.stderr)",
        ),
        namespace,
    )
    kubectl(
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/talker",
        "-n",
        namespace,
        "--timeout=60s",
    )
    logs = kubectl("logs", "talker", "-n", namespace).stdout
    assert logs.splitlines() == ["hello from the pod", "and stderr"]


def test_a_command_that_cannot_start_has_a_clear_reason(kubectl: Kubectl, namespace: str) -> None:
    broken = pod("broken", "")
    broken["spec"]["containers"][0]["command"] = ["no-such-program", "--flag"]
    kubectl.apply(broken, namespace)
    kubectl(
        "wait",
        "--for=jsonpath={.status.phase}=Failed",
        "pod/broken",
        "-n",
        namespace,
        "--timeout=60s",
    )
    status = kubectl.json("get", "pod", "broken", "-n", namespace)["status"]
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "StartError"
    assert terminated["exitCode"] == 128
    assert 'exec: "no-such-program": executable file not found in $PATH' in terminated["message"]


def test_a_missing_config_map_keeps_the_pod_waiting_with_the_reason(
    kubectl: Kubectl, namespace: str
) -> None:
    waiting = pod(
        "waiting",
        "print('never')",
        container={
            "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "x"}}}]
        },
    )
    kubectl.apply(waiting, namespace)

    def reason() -> dict | None:
        statuses = (
            kubectl.json("get", "pod", "waiting", "-n", namespace)["status"].get(
                "containerStatuses"
            )
            or []
        )
        state = statuses[0]["state"].get("waiting") if statuses else None
        return state if state and state["reason"] == "CreateContainerConfigError" else None

    state = wait_for(reason, timeout=30, what="CreateContainerConfigError")
    assert 'configmap "absent" not found' in state["message"]
    kubectl("create", "configmap", "absent", "--from-literal=x=1", "-n", namespace)
    kubectl(
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/waiting",
        "-n",
        namespace,
        "--timeout=60s",
    )


def test_a_failing_liveness_probe_restarts_the_container(kubectl: Kubectl, namespace: str) -> None:
    # Serves /healthz for two seconds, then stops answering it.
    script = (
        "import http.server, time\nstart = time.time()\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200 if time.time() - start < 2 else 500)\n"
        "        self.end_headers()\n"
        "http.server.HTTPServer(('', 8080), H).serve_forever()\n"
    )
    flaky = pod(
        "flaky",
        script,
        restartPolicy="Always",
        container={
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": 8080},
                "periodSeconds": 1,
                "failureThreshold": 2,
            }
        },
    )
    flaky["spec"]["terminationGracePeriodSeconds"] = 1
    kubectl.apply(flaky, namespace)

    def restarted() -> bool:
        statuses = (
            kubectl.json("get", "pod", "flaky", "-n", namespace)["status"].get("containerStatuses")
            or []
        )
        return bool(statuses) and statuses[0]["restartCount"] >= 1

    wait_for(restarted, timeout=60, what="a restart after the liveness probe failed")
    events = kubectl(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=flaky"
    ).stdout
    assert "Liveness probe failed" in events


def test_deletion_waits_the_grace_period_then_kills(kubectl: Kubectl, namespace: str) -> None:
    marker = f"stubborn-{uuid.uuid4().hex}"
    script = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open('/dev/termination-log', 'w').write('up')\n"
        "while True: time.sleep(1)\n"
    )
    stubborn = pod("stubborn", script, terminationGracePeriodSeconds=2)
    stubborn["spec"]["containers"][0]["args"] = [marker]
    kubectl.apply(stubborn, namespace)
    kubectl("wait", "--for=condition=Ready", "pod/stubborn", "-n", namespace, "--timeout=60s")
    assert local_processes(marker)

    start = time.monotonic()
    kubectl("delete", "pod", "stubborn", "-n", namespace, "--wait=true", "--timeout=30s")
    took = time.monotonic() - start
    assert 1.5 <= took < 10, f"deleted after {took:.1f}s; the grace period is 2s"
    assert not local_processes(marker)
