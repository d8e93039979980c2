"""A release, installed and upgraded as a platform team does, from the cluster's registry.

A story in order (the tests share one install and run top to bottom):
given V1 and a later V2 released to this cluster's registry (hack/release/release.sh --test:
the images pushed, the chart pinned to their digests and `helm push`ed), and a node that
has never pulled them,
when `helm install modelpilot oci://REGISTRY/charts/modelpilot --version V1` runs and the
iris example is applied (docs/quickstart.md's steps: kubectl, helm and the modelpilot CLI
only), then iris goes Ready and every pod runs exactly a released digest, pulled;
given a second model paused mid-canary and a prober sending predictions to both models,
when the CRD is applied and `helm upgrade` moves to V2 (docs/upgrading.md's procedure),
then no request fails, no serving pod is replaced, the canary is still at its step and goes
on to promotion under the new operator, and only a new revision runs V2's serving image;
when `helm upgrade` names V1 again, the chart refuses the downgrade, naming both versions.

Releasing is the test bed's part (setup); what a user types is run as they would type it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kube import REPO, Kubectl, wait_for

pytestmark = pytest.mark.e2e

V1, V2 = "0.1.0", "0.1.1"
# docs/quickstart.md's modelpilot-system, made unique: test_install_kustomize applies
# manifests/ there, possibly on this cluster while this module's namespace is still going.
SYSTEM = f"modelpilot-system-{uuid.uuid4().hex[:5]}"
IMAGES = ("operator", "serving", "trainer")
CANARY = """
apiVersion: modelpilot.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: iris-canary
spec:
  training:
    dataset: {builtin: iris}
    estimator: sklearn.tree.DecisionTreeClassifier
    params: {random_state: 0}
  evaluation: {metric: accuracy, threshold: 0.8, mustBeatStable: false}
  serving:
    replicas: 1
    resources:
      requests: {cpu: 50m, memory: 128Mi}
  rollout:
    trafficRouter: {replicas: {}}
    steps: [{setWeight: 50}, {pause: {}}]
    analysis: {interval: 5s, maxErrorRate: 0.05, maxLatencyP99Ms: 5000, minRequests: 1,
               failureLimit: 5, inconclusiveLimit: 1000}
  modelStore:
    pvc: {claimName: models}
"""


@dataclass(frozen=True)
class Published:
    version: str
    digests: dict[str, str]  # image name -> sha256:...
    seconds: float


def release(version: str, registry: str) -> Published:
    """hack/release/release.sh --test VERSION, what `make release` runs; its digests."""
    start = time.monotonic()
    result = subprocess.run(
        [str(REPO / "hack" / "release" / "release.sh"), "--test", version],
        cwd=REPO,
        env={**os.environ, "PYTHON": sys.executable, "MODELPILOT_REGISTRY": registry},
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    assert result.returncode == 0, f"release {version}:\n{result.stderr[-4000:]}"
    digests = {}
    for line in (REPO / "dist" / version / "digests.txt").read_text().split():
        ref, _, digest = line.partition("@")
        digests[ref.rsplit("/", 1)[1].split(":")[0]] = digest
    return Published(version, digests, time.monotonic() - start)


@dataclass
class User:
    """What a user runs: the pinned kubectl and helm, and the modelpilot CLI."""

    kubectl: Kubectl
    bin: Path
    registry: str

    @property
    def chart(self) -> str:
        return f"oci://{self.registry}/charts/modelpilot"

    def run(self, *argv: str, check: bool = True, timeout: float = 600) -> str:
        """helm (the pinned one) or modelpilot (the CLI `pip install modelpilot` gives)."""
        program, *args = argv
        folder = self.bin if program == "helm" else Path(sys.executable).parent
        result = subprocess.run(
            [str(folder / program), *args],
            env=self.kubectl.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check:
            assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    def helm(self, *args: str, check: bool = True) -> str:
        # --plain-http: the local registry answers plain HTTP on loopback (docs/quickstart.md).
        return self.run("helm", *args, check=check)


@dataclass
class Prober:
    """Predictions sent to Services' ClusterIPs from a thread; every outcome counted."""

    targets: dict[str, str]  # model name -> ClusterIP
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _one(self, model: str, ip: str) -> None:
        body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode()
        request = urllib.request.Request(
            f"http://{ip}/v1/models/{model}:predict",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        self.sent += 1
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status != 200:
                    self.failures.append(f"{model}: HTTP {response.status}")
        except urllib.error.HTTPError as err:
            self.failures.append(f"{model}: HTTP {err.code}")
        except OSError as err:
            self.failures.append(f"{model}: {err}")

    def run(self) -> None:
        while not self._stop.is_set():
            for model, ip in self.targets.items():
                self._one(model, ip)
            time.sleep(0.05)

    @contextlib.contextmanager
    def running(self) -> Iterator[Prober]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=15)


@pytest.fixture(scope="module")
def published(cluster) -> dict[str, Published]:
    """V1 and V2 in the cluster's registry; V1 released twice, which must push the same bytes."""
    first = release(V1, cluster.registry)
    again = release(V1, cluster.registry)
    assert again.digests == first.digests, "two releases of one commit differ"
    later = release(V2, cluster.registry)
    assert later.digests != first.digests, "V2's images carry their own version label"
    for name in IMAGES:  # an SBOM beside each image, naming what is installed in it
        sbom = json.loads((REPO / "dist" / V1 / "sbom" / f"{name}.cdx.json").read_text())
        assert sbom["metadata"]["component"]["hashes"][0]["content"] in first.digests[name]
        names = {c["name"] for c in sbom["components"]}
        assert {"modelpilot", "python3.11-minimal"} <= names, name
    print(
        f"\nrelease: {V1} {first.seconds:.0f}s, again {again.seconds:.0f}s, "
        f"{V2} {later.seconds:.0f}s",
        file=sys.stderr,
    )
    return {V1: first, V2: later}


@pytest.fixture(scope="module")
def user(cluster, kubectl: Kubectl, k8s_bin: Path, published) -> Iterator[User]:
    """A node that never pulled a release, and a user with the tools; uninstalls at the end."""
    ctr = [
        str(k8s_bin / "ctr"),
        f"--address={cluster.kubeconfig.parent / 'containerd' / 'containerd.sock'}",
        "--namespace=k8s.io",
    ]
    listed = subprocess.run(
        [*ctr, "images", "ls", "-q"], capture_output=True, text=True, check=True
    )
    ours = [ref for ref in listed.stdout.split() if ref.startswith(f"{cluster.registry}/")]
    if ours:
        subprocess.run([*ctr, "images", "rm", *ours], capture_output=True, check=True)
    user = User(kubectl, k8s_bin, cluster.registry)
    yield user
    user.helm("uninstall", "modelpilot", "-n", SYSTEM, "--wait", check=False)
    kubectl("delete", "namespace", SYSTEM, "--wait=false", check=False)


@pytest.fixture(scope="module")
def models(kubectl: Kubectl) -> Iterator[str]:
    name = f"release-ml-{uuid.uuid4().hex[:5]}"
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def image_ids(kubectl: Kubectl, namespace: str) -> dict[str, set[str]]:
    """pod name -> the imageID of each of its containers (init containers included)."""
    out: dict[str, set[str]] = {}
    for pod in kubectl.json("get", "pods", "-n", namespace)["items"]:
        status = pod.get("status", {})
        statuses = [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]
        out[pod["metadata"]["name"]] = {s.get("imageID", "") for s in statuses}
    return out


def released_ids(user: User, published: Published) -> dict[str, str]:
    return {n: f"{user.registry}/modelpilot/{n}@{d}" for n, d in published.digests.items()}


def serving_pods(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    """uid -> name of every serving pod that is not terminating."""
    return {
        p["metadata"]["uid"]: p["metadata"]["name"]
        for p in kubectl.pods(namespace, "modelpilot.dev/component=serving")
        if not p["metadata"].get("deletionTimestamp")
    }


def canary_of(kubectl: Kubectl, namespace: str) -> dict:
    status = kubectl.json("get", "mdep", "iris-canary", "-n", namespace).get("status", {})
    return status.get("canary") or {}


def test_install_from_the_registry_and_iris_goes_ready_on_released_digests(
    user: User, kubectl: Kubectl, models: str, published: dict[str, Published]
) -> None:
    # docs/quickstart.md, step 2: the operator from the registry.
    user.helm(
        "install", "modelpilot", user.chart, "--version", V1, "--plain-http",
        "--namespace", SYSTEM, "--create-namespace", "--wait", "--timeout", "10m",
    )  # fmt: skip
    kubectl("label", "namespace", SYSTEM, "pod-security.kubernetes.io/enforce=restricted")
    version = user.run("modelpilot", "version")
    # The operator it reaches is the release just installed (docs/cli.md: `version`).
    assert version.startswith("client:") and f"operator: {V1} " in version, version

    # Step 3: a first model.
    kubectl("create", "namespace", models)
    kubectl("apply", "-n", models, "-f", str(REPO / "examples" / "iris"))
    kubectl(
        "wait", "-n", models, "mdep/iris", "--for=condition=Ready", "--timeout=10m", timeout=620
    )
    assert "v1" in user.run("modelpilot", "status", "iris", "-n", models)

    ids = released_ids(user, published[V1])
    seen: set[str] = set()
    for namespace in (SYSTEM, models):
        for pod, pod_ids in image_ids(kubectl, namespace).items():
            assert pod_ids <= set(ids.values()), f"{pod} runs {pod_ids}, not a {V1} digest"
            seen |= pod_ids
    assert seen == set(ids.values()), "the operator, a training and a serving pod all ran"


def test_upgrade_drops_no_request_and_keeps_every_serving_pod(
    user: User, kubectl: Kubectl, models: str, published: dict[str, Published]
) -> None:
    kubectl.apply(CANARY, models)
    kubectl(
        "wait", "-n", models, "mdep/iris-canary", "--for=condition=Ready", "--timeout=10m",
        timeout=620,
    )  # fmt: skip
    user.run("modelpilot", "retrain", "iris-canary", "-n", models)
    wait_for(
        lambda: canary_of(kubectl, models).get("paused") is True,
        timeout=600,
        interval=2,
        what="iris-canary's v2 paused at its second step",
    )
    before = canary_of(kubectl, models)
    assert (before["revision"], before["stepIndex"], before["weight"]) == ("v2", 1, 50)
    pods_before = serving_pods(kubectl, models)
    targets = {
        name: kubectl.json("get", "service", name, "-n", models)["spec"]["clusterIP"]
        for name in ("iris", "iris-canary")
    }

    with Prober(targets).running() as prober:
        time.sleep(3)  # load before the upgrade starts
        start = time.monotonic()
        # docs/upgrading.md: 1. the CRD first, 2. the operator, with the values installed with.
        pulled = Path(f"/tmp/modelpilot-{V2}-{uuid.uuid4().hex[:6]}")
        user.helm(
            "pull",
            user.chart,
            "--version",
            V2,
            "--plain-http",
            "--untar",
            "--untardir",
            str(pulled),
        )
        kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(pulled / "modelpilot" / "crds")
        )
        user.helm(
            "upgrade", "modelpilot", user.chart, "--version", V2, "--plain-http",
            "--namespace", SYSTEM, "--reset-then-reuse-values", "--wait", "--timeout", "10m",
        )  # fmt: skip
        upgraded = time.monotonic() - start
        # The new operator reconciles every model at its start; give it time to (not) act.
        operator_id = released_ids(user, published[V2])["operator"]
        wait_for(
            lambda: any(operator_id in ids for ids in image_ids(kubectl, SYSTEM).values()),
            timeout=120,
            interval=2,
            what="the V2 operator pod running",
        )
        time.sleep(20)
    print(
        f"\nupgrade: {upgraded:.0f}s, {len(prober.failures)} failed of {prober.sent} requests",
        file=sys.stderr,
    )
    assert prober.sent > 100
    assert prober.failures == [], prober.failures[:10]
    assert serving_pods(kubectl, models) == pods_before, "no serving pod was replaced"

    after = canary_of(kubectl, models)
    assert (after["revision"], after["stepIndex"], after["weight"]) == ("v2", 1, 50)
    user.run("modelpilot", "promote", "iris-canary", "-n", models)
    user.run(
        "modelpilot", "wait", "iris-canary", "-n", models, "--for", "promoted", "--timeout", "5m",
        timeout=320,
    )  # fmt: skip
    stable = kubectl.json("get", "mdep", "iris-canary", "-n", models)["status"]["stable"]
    assert stable["revision"] == "v2"

    # A revision made before the upgrade keeps V1's serving image; the next one gets V2's.
    v1_serving = released_ids(user, published[V1])["serving"]
    for pod, ids in image_ids(kubectl, models).items():
        if pod.startswith("iris-canary-v2-"):
            assert ids == {v1_serving}, pod
    user.run("modelpilot", "retrain", "iris", "-n", models)
    wait_for(
        lambda: (
            kubectl.json("get", "mdep", "iris", "-n", models)["status"]["stable"]["revision"]
            == "v2"
        ),
        timeout=600,
        interval=2,
        what="iris v2 stable",
    )
    v2 = released_ids(user, published[V2])
    now = image_ids(kubectl, models)
    served = {p: ids for p, ids in now.items() if p.startswith("iris-v2-")}
    assert served and all(ids == {v2["serving"]} for ids in served.values()), served
    trained = {p: ids for p, ids in now.items() if p.startswith("iris-train-v2-")}
    assert all(ids == {v2["trainer"]} for ids in trained.values()), trained


def test_a_downgrade_is_refused_naming_both_versions(user: User) -> None:
    refused = user.helm(
        "upgrade", "modelpilot", user.chart, "--version", V1, "--plain-http",
        "--namespace", SYSTEM, "--reset-then-reuse-values", check=False,
    )  # fmt: skip
    assert f"modelpilot {V2} is running; installing the older {V1} is a downgrade" in refused
    listed = json.loads(user.helm("list", "-n", SYSTEM, "-o", "json"))
    assert [r["chart"] for r in listed] == [f"modelpilot-{V2}"]
