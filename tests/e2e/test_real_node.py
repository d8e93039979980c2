"""On the real node (kubelet + containerd + runc running the built images), the hardening the
chart and the operator ask for holds in the running pods:

given a namespace that enforces the `restricted` Pod Security Standard and the operator
installed by the chart (in-cluster, from its image), when iris is trained and served,
- every modelpilot pod is admitted, and the serving container runs as UID 65532 without
  capabilities or new privileges, under seccomp, inside its memory limit, and a write to `/`
  fails (readOnlyRootFilesystem);
- a revision whose model does not fit the serving memory limit is OOM-killed and never
  becomes Ready, while the stable model keeps answering every request. The kill is read
  from the container runtime's reason (OOMKilled) or, since containerd can report such an
  exit as `Error` 137, from the kernel's own record of a memory-cgroup OOM kill in the pod.
"""

from __future__ import annotations

import copy
import random
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helm_harness import (
    EXAMPLE,
    Prober,
    Release,
    install_release,
    operator_pod,
    pod_ready,
    predict,
    remove_release,
    restricted_namespace,
    serving_pod,
)
from kube import REPO, Kubectl, has_condition, wait_for

pytestmark = pytest.mark.e2e

UID = 65532
IRIS_FEATURES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")
MEMORY_LIMIT = "320Mi"


@pytest.fixture(scope="module", autouse=True)
def real_node(kubectl: Kubectl) -> None:
    """What these tests read is what containerd and runc enforce: on any other node they fail
    (a skip would pass them unseen)."""
    (node,) = kubectl.json("get", "nodes")["items"]
    runtime = node["status"]["nodeInfo"].get("containerRuntimeVersion", "")
    if not runtime.startswith("containerd://"):
        pytest.fail(f"the node runs {runtime!r}, not containerd", pytrace=False)


@pytest.fixture(scope="module")
def models(kubectl: Kubectl) -> Iterator[str]:
    name = restricted_namespace(kubectl, f"node-models-{uuid.uuid4().hex[:5]}")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def release(k8s_bin: Path, kubectl: Kubectl, models: str) -> Iterator[Release]:
    release = install_release(k8s_bin, kubectl, models)
    yield release
    remove_release(k8s_bin, kubectl, release)


def iris_documents() -> list[dict]:
    """The iris example with a memory limit on its serving pods."""
    docs = [
        d for f in sorted(EXAMPLE.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d
    ]
    for doc in docs:
        if doc["kind"] == "ModelDeployment":
            doc["spec"]["serving"]["resources"]["limits"] = {"memory": MEMORY_LIMIT}
    return docs


@pytest.fixture(scope="module")
def iris(kubectl: Kubectl, release: Release, models: str) -> dict:
    docs = iris_documents()
    for doc in docs:
        kubectl.apply(doc, models)
    kubectl(
        "wait", "-n", models, "--for=condition=Ready", "mdep/iris", "--timeout=300s", timeout=320
    )
    return next(d for d in docs if d["kind"] == "ModelDeployment")


def exec_python(kubectl: Kubectl, namespace: str, pod: str, code: str):
    return kubectl("exec", "-n", namespace, pod, "--", "python", "-c", code, check=False)


def test_the_operator_runs_in_cluster_from_its_image(kubectl: Kubectl, release: Release) -> None:
    pod = operator_pod(kubectl, release)
    assert pod_ready(pod), pod["status"]
    (status,) = pod["status"]["containerStatuses"]
    assert status["imageID"], "containerd records the image it ran"
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert status["image"].endswith(("modelpilot/operator:dev", f"modelpilot/operator:{version}"))


def test_serving_runs_unprivileged_on_a_read_only_root(
    kubectl: Kubectl, iris: dict, models: str
) -> None:
    pod = serving_pod(kubectl, models)
    name = pod["metadata"]["name"]

    wrote = exec_python(kubectl, models, name, "open('/written-by-a-test', 'w')")
    assert wrote.returncode != 0
    assert "Read-only file system" in wrote.stderr, wrote.stderr

    status = exec_python(kubectl, models, name, "print(open('/proc/1/status').read())").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["Uid"].split() == [str(UID)] * 4
    assert fields["Gid"].split() == [str(UID)] * 4
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"  # filter mode: RuntimeDefault is loaded

    # The memory limit is the cgroup's (v1 here; v2 names it memory.max).
    limit = exec_python(
        kubectl,
        models,
        name,
        (
            "import pathlib\n"
            "for p in ('/sys/fs/cgroup/memory.max',\n"
            "          '/sys/fs/cgroup/memory/memory.limit_in_bytes'):\n"
            "    f = pathlib.Path(p)\n"
            "    if f.exists(): print(f.read_text().strip()); break\n"
        ),
    ).stdout.strip()
    assert limit == str(320 * 1024 * 1024), limit


def test_every_modelpilot_pod_is_admitted_by_restricted(
    kubectl: Kubectl, release: Release, iris: dict, models: str
) -> None:
    for ns in (release.namespace, models):
        labels = kubectl.json("get", "namespace", ns)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = kubectl.pods(models) + kubectl.pods(release.namespace)
    components = {p["metadata"]["labels"].get("modelpilot.dev/component") for p in pods}
    assert {"trainer", "serving"} <= components, components
    events = kubectl.json("get", "events", "-n", models)["items"]
    events += kubectl.json("get", "events", "-n", release.namespace)["items"]
    refused = [e["message"] for e in events if e.get("reason") == "FailedCreate"]
    assert not refused, refused


def noise_csv(path: Path, *, rows: int) -> None:
    """Random features and labels: a tree on them grows about one leaf per sample, so an
    extra-trees forest on 84k training rows is ~8.6 MB a tree, while each fits in ~0.5 s."""
    rng = random.Random(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    # iris's own column names: the trainer also scores the stable model on this holdout.
    lines = [",".join(IRIS_FEATURES) + ",label"]
    lines += [
        ",".join(f"{rng.random():.6f}" for _ in range(4)) + f",{rng.randint(0, 1)}"
        for _ in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)


def test_a_model_past_its_memory_limit_is_oom_killed_and_stable_keeps_serving(
    kubectl: Kubectl, iris: dict, models: str
) -> None:
    pvc = kubectl.json("get", "pvc", "models", "-n", models)
    pv = kubectl.json("get", "pv", pvc["spec"]["volumeName"])
    noise_csv(Path(pv["spec"]["hostPath"]["path"]) / "data" / "noise.csv", rows=120_000)
    stable = serving_pod(kubectl, models)
    big = copy.deepcopy(iris)
    big["spec"]["training"].update(
        dataset={"uri": "file:///models/data/noise.csv", "target": "label"},
        # ~430 MB of trees: with the server's own ~150 MB, well past MEMORY_LIMIT.
        estimator="sklearn.ensemble.ExtraTreesClassifier",
        params={"n_estimators": 50, "random_state": 0},
    )
    big["spec"]["evaluation"] = {"metric": "accuracy", "threshold": 0.0, "mustBeatStable": False}

    with Prober(stable["status"]["podIP"]).running() as prober:
        kubectl.apply(big, models)
        selector = (
            "modelpilot.dev/model=iris,modelpilot.dev/revision=v2,modelpilot.dev/component=serving"
        )

        def oom_killed() -> tuple[dict, str] | None:
            for pod in kubectl.pods(models, selector):
                evidence = oom_kill_of(pod)
                if evidence is not None:
                    return pod, evidence
            return None

        try:
            canary, evidence = wait_for(
                oom_killed, timeout=600, interval=2, what="the v2 serving pod OOM-killed"
            )
        except AssertionError as error:
            pytest.fail(f"{error}\n{why_no_oom(kubectl, models, prober)}", pytrace=False)
        print(f"{canary['metadata']['name']} OOM-killed: {evidence}")
        time.sleep(5)  # the stable keeps answering while the canary crash-loops
        canary = kubectl.json("get", "pod", canary["metadata"]["name"], "-n", models)
    assert not pod_ready(canary), canary["status"]
    assert len(prober.statuses) >= 20, "the prober hardly ran"
    assert set(prober.statuses) == {200}, {s: prober.statuses.count(s) for s in prober.statuses}
    mdep = kubectl.json("get", "mdep", "iris", "-n", models)
    assert mdep["status"]["stable"]["revision"] == "v1"
    assert predict(serving_pod_of(kubectl, models, "v1")["status"]["podIP"]) == 200
    assert has_condition(
        kubectl.json("get", "pod", stable["metadata"]["name"], "-n", models), "Ready"
    )


def oom_kill_of(pod: dict) -> str | None:
    """How we know the kernel OOM-killed this pod's container, or None.

    containerd labels such an exit `OOMKilled` when its OOM event arrives before the exit
    event, and not always otherwise: a container killed soon after it starts can exit as
    `Error`, 137 (containerd/containerd#8180, #8893, #12260). So a SIGKILL exit counts too when
    the kernel's own log records a memory-cgroup OOM kill inside this pod's cgroup."""
    exits = []
    for cs in pod["status"].get("containerStatuses", []):
        for state in (cs.get("lastState") or {}, cs.get("state") or {}):
            terminated = state.get("terminated")
            if terminated:
                exits.append(terminated)
    if any(t.get("reason") == "OOMKilled" for t in exits):
        return "the container runtime's reason OOMKilled"
    killed = [t for t in exits if t.get("exitCode") == 137]
    if killed:
        records = kernel_oom_kills(pod["metadata"]["uid"])
        if records:
            return (
                f"exit code 137 (reason {killed[-1].get('reason')!r}) and the kernel's log: "
                f"{records[-1]}"
            )
    return None


def kernel_oom_kills(uid: str) -> list[str]:
    """The kernel log's memory-cgroup OOM kills inside the pod cgroup of `uid` (the
    `oom-kill:` line names the task's cgroup, whose path holds `pod<uid>`)."""
    result = subprocess.run(["dmesg"], capture_output=True, text=True, check=False)
    return [
        line.strip()
        for line in result.stdout.splitlines()
        if "oom-kill:" in line and f"pod{uid}" in line
    ]


def why_no_oom(kubectl: Kubectl, namespace: str, prober: Prober) -> str:
    """What a person needs when the OOM kill never came: the ModelDeployment's phase and
    conditions, every pod's phase, restarts and container states, the pod cgroups' memory
    figures as the node recorded them, the Jobs, the last Events and the prober's answers."""
    lines = []
    try:
        mdep = kubectl.json("get", "mdep", "iris", "-n", namespace)
        status = mdep.get("status") or {}
        lines.append(f"iris: phase {status.get('phase')}, message {status.get('message')!r}")
        for c in status.get("conditions") or []:
            lines.append(f"  {c['type']}={c['status']} {c.get('reason')}: {c.get('message')}")
        for pod in kubectl.pods(namespace):
            meta, st = pod["metadata"], pod["status"]
            lines.append(
                f"pod {meta['name']} ({meta['labels'].get('modelpilot.dev/component')} "
                f"{meta['labels'].get('modelpilot.dev/revision')}): {st.get('phase')}, "
                f"memory {pod_memory(pod)}, kernel OOM kills {kernel_oom_kills(meta['uid'])}"
            )
            for c in st.get("conditions") or []:
                if c["status"] != "True":
                    lines.append(
                        f"  {c['type']}={c['status']} {c.get('reason')}: {c.get('message')}"
                    )
            for cs in st.get("initContainerStatuses", []) + st.get("containerStatuses", []):
                lines.append(
                    f"  {cs['name']}: restarts {cs.get('restartCount')}, state {cs.get('state')}, "
                    f"last {cs.get('lastState')}"
                )
        for job in kubectl.json("get", "jobs", "-n", namespace)["items"]:
            lines.append(f"job {job['metadata']['name']}: {job.get('status')}")
        events = kubectl.json("get", "events", "-n", namespace)["items"]
        events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        for e in events[-15:]:
            lines.append(
                f"event {e.get('reason')} {e['involvedObject'].get('name')}: {e.get('message')}"
            )
    except Exception as error:  # diagnostics must never hide the failure they explain
        lines.append(f"(diagnostics stopped: {type(error).__name__}: {error})")
    counts = {s: prober.statuses.count(s) for s in set(prober.statuses)}
    lines.append(f"prober: {counts}, last {prober.statuses[-10:]}")
    return "\n".join(lines)


def pod_memory(pod: dict) -> str:
    """The pod cgroup's memory figures on this node (cgroup v1): usage, peak, limit hits and
    OOM kills; "unknown" where the node keeps them elsewhere."""
    uid = pod["metadata"]["uid"]
    for path in Path("/sys/fs/cgroup/memory").glob(f"*/kubepods/*/pod{uid}"):
        figures = {
            name: (path / name).read_text().strip() if (path / name).exists() else "?"
            for name in (
                "memory.usage_in_bytes",
                "memory.max_usage_in_bytes",
                "memory.failcnt",
                "memory.oom_control",
            )
        }
        kills = [
            line
            for line in figures.pop("memory.oom_control").splitlines()
            if line.startswith("oom_kill ")
        ]
        return " ".join(f"{k.removeprefix('memory.')} {v}" for k, v in figures.items()) + (
            f" {kills[0]}" if kills else ""
        )
    return "unknown"


def serving_pod_of(kubectl: Kubectl, namespace: str, revision: str) -> dict:
    (pod,) = kubectl.pods(
        namespace,
        f"modelpilot.dev/model=iris,modelpilot.dev/revision="
        f"{revision},modelpilot.dev/component=serving",
    )
    return pod
