"""The fault suite: seeded faults at random moments, and every run ends where a run without
faults ends — one Job and one Deployment per revision, no failed request to stable, no answer
from an aborted canary's digest once the abort is done.

- the operator SIGKILLed at random moments while ten models each train, pass the gate and
  serve v1, then train v2, walk a canary and promote it (twenty runs of a revision);
- a training pod killed mid-training;
- during a canary under load: a canary serving pod killed, kube-apiserver restarted, etcd
  restarted, then `modelpilot abort`.

Seeded (MODELPILOT_FAULT_SEED, default 11) and bounded in time; each test prints its figures
(runs, faults, requests, failures) so a CI log shows them.
"""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from canary_harness import LoadGenerator, service_targets
from kube import REPO, Kubectl, wait_for
from localcluster import cluster as localcluster
from operator_harness import EXAMPLES, Story

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("MODELPILOT_FAULT_SEED", "11"))
MODELS = 10  # x two revisions each = twenty runs of train, gate, (canary,) promote
T = TypeVar("T")


def model(name: str, *, replicas: int = 1, min_requests: int = 0) -> dict[str, Any]:
    """A small, fast model: a tiny forest, one replica, a two-step canary with short pauses."""
    return {
        "apiVersion": "modelpilot.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "training": {
                "dataset": {"builtin": "iris"},
                "estimator": "sklearn.tree.DecisionTreeClassifier",
                "params": {"random_state": 0, "max_depth": 3},
                "testSize": 0.3,
            },
            "evaluation": {"metric": "accuracy", "threshold": 0.8, "tolerance": 0.2},
            "serving": {"replicas": replicas, "resources": {"requests": {"cpu": "10m"}}},
            "rollout": {
                "trafficRouter": {"replicas": {}},
                "steps": [{"setWeight": 50}, {"pause": {"duration": "2s"}}],
                "analysis": {
                    "interval": "1s",
                    "minRequests": min_requests,
                    "maxLatencyP99Ms": 2000,
                    "inconclusiveLimit": 30,
                },
            },
            "modelStore": {"pvc": {"claimName": "models"}},
        },
    }


def quietly(probe: Callable[[], T]) -> Callable[[], T | None]:
    """A probe that answers None while the apiserver is away (restarts are the point here)."""

    def run() -> T | None:
        try:
            return probe()
        except Exception:  # kubectl fails while the apiserver restarts: look again
            return None

    return run


def uids(kubectl: Kubectl, namespace: str, kind: str) -> dict[str, str]:
    items = kubectl.json("get", kind, "-n", namespace)["items"]
    return {i["metadata"]["name"]: i["metadata"]["uid"] for i in items}


def test_operator_sigkill_at_random_moments_over_twenty_runs(operator, kubectl, namespace):
    rng = random.Random(SEED)
    names = [f"m{i:02d}" for i in range(MODELS)]
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "canary" / "model-store.yaml"))
    stories = {n: Story(kubectl, namespace, n) for n in names}
    kills: list[str] = []
    first_seen: dict[tuple[str, str], str] = {}  # (kind, name) -> uid when first seen

    def phases() -> dict[str, str]:
        items = kubectl.json("get", "mdep", "-n", namespace)["items"]
        return {
            i["metadata"]["name"]: f"{i.get('status', {}).get('phase')}/"
            f"{(i.get('status', {}).get('stable') or {}).get('revision')}"
            for i in items
        }

    def remember_uids() -> None:
        for kind in ("jobs", "deployments"):
            for name, uid in uids(kubectl, namespace, kind).items():
                assert first_seen.setdefault((kind, name), uid) == uid, (
                    f"{kind} {name} was created twice"
                )

    def working() -> float:
        """When the operator that runs now is past its start-up (kopf logged in): a kill
        before that would hit only imports, over and over on a busy machine."""
        wait_for(
            lambda: operator.log().count("Initial authentication has finished") >= operator.starts,
            timeout=120,
            interval=0.2,
            what="the operator started",
        )
        return time.monotonic()

    def run_with_kills(done: Callable[[dict[str, str]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        next_kill = working() + rng.uniform(2.0, 10.0)
        while True:
            seen = quietly(phases)() or {}
            remember_uids()
            if seen and done(seen):
                return
            assert time.monotonic() < deadline, f"not converged after {timeout}s: {seen}"
            if time.monotonic() >= next_kill:
                kills.append(", ".join(sorted(set(seen.values()))))
                operator.kill()
                time.sleep(rng.uniform(0.0, 1.0))
                operator.start()
                next_kill = working() + rng.uniform(2.0, 10.0)
            time.sleep(0.5)

    started = time.monotonic()
    for name in names:
        stories[name].apply(model(name))
    run_with_kills(lambda seen: all(seen.get(n) == "Serving/v1" for n in names), 330)
    print(
        f"\n  v1 of {MODELS} models serving after {time.monotonic() - started:.0f}s, "
        f"{len(kills)} kills"
    )
    for name in names:
        kubectl(
            "annotate",
            "mdep",
            name,
            "-n",
            namespace,
            "--overwrite",
            "modelpilot.dev/retrain-requested-at=fault-suite",
        )
    run_with_kills(lambda seen: all(seen.get(n) == "Serving/v2" for n in names), 330)
    elapsed = time.monotonic() - started

    # The end state of a run without faults, for every model.
    for name in names:
        story = stories[name]
        wait_for(
            lambda s=story: s.names("deployments") == [f"{s.name}-v2"],
            timeout=60,
            what=f"{name}: only v2 serves",
        )
        status = story.status()
        assert status["revisionCounter"] == 2, (name, status)
        assert [h["outcome"] for h in status["history"]] == ["Promoted", "Promoted"], name
        assert story.names("jobs") == [f"{name}-train-v1", f"{name}-train-v2"]
        # Ready follows the serving pods: on a loaded node a readiness probe can miss for a
        # moment right after the promotion, and the operator then says so. It must settle
        # True with no more kills; a status left stale by a kill would stay False here.
        try:
            wait_for(
                lambda s=story: (s.condition("Ready") or {}).get("status") == "True",
                timeout=90,
                what=f"{name}: Ready",
            )
        except AssertionError:
            raise AssertionError(f"{name}: Ready is {story.condition('Ready')}") from None
        assert len(story.serving_pods("v2")) == 1, name
    remember_uids()
    print(
        f"\nfault suite (seed {SEED}): operator SIGKILL — runs {2 * MODELS}, faults "
        f"{len(kills)}, duplicate Jobs/Deployments 0, {elapsed:.0f}s"
    )
    print("  killed while: " + " | ".join(kills))
    # At least a few kills in each half on a busy 2-core machine; more where it is faster.
    assert len(kills) >= 4


def test_a_training_pod_killed_mid_training_still_ends_in_one_job(operator, kubectl, namespace):
    story = Story(kubectl, namespace, "m-train")
    story.apply(EXAMPLES / "canary" / "model-store.yaml")
    story.apply(model("m-train"))
    selector = "modelpilot.dev/model=m-train,modelpilot.dev/component=trainer"
    pod = wait_for(
        lambda: next(
            (
                p
                for p in kubectl.pods(namespace, selector)
                if p.get("status", {}).get("phase") == "Running"
            ),
            None,
        ),
        timeout=60,
        what="a running training pod",
    )
    job_uid = uids(kubectl, namespace, "jobs")["m-train-train-v1"]
    kubectl(
        "delete",
        "pod",
        pod["metadata"]["name"],
        "-n",
        namespace,
        "--grace-period=0",
        "--force",
        "--wait=false",
    )
    story.wait_condition("Ready", timeout=180)
    assert uids(kubectl, namespace, "jobs") == {"m-train-train-v1": job_uid}
    assert story.names("deployments") == ["m-train-v1"]
    status = story.status()
    assert status["revisionCounter"] == 1 and status["stable"]["revision"] == "v1"
    print(f"\nfault suite: training pod killed — runs 1, faults 1, Jobs {len(story.names('jobs'))}")


class ControlPlane:
    """Stops this cluster's own etcd or kube-apiserver (MODELPILOT_CLUSTER_INDEX) and starts
    it again with `python -m localcluster up`, which starts whatever is not running."""

    def __init__(self) -> None:
        self._cluster = localcluster
        self.layout = localcluster.Layout.from_env()

    def restart(self, component: str) -> float:
        started = time.monotonic()
        pid = self._cluster.recorded_pid(self.layout.run, component)
        assert pid is not None, f"{component} is not running"
        self._cluster.stop_pid(pid, grace=5)
        env = {**os.environ, "PYTHONPATH": str(REPO / "hack")}
        env.pop("KUBECONFIG", None)
        result = subprocess.run(
            [sys.executable, "-m", "localcluster", "up"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return time.monotonic() - started


def test_canary_survives_pod_apiserver_and_etcd_faults_and_abort_is_final(
    operator, kubectl, namespace
):
    rng = random.Random(SEED)
    story = Story(kubectl, namespace, "m-canary")
    doc = model("m-canary", replicas=2, min_requests=1)
    doc["spec"]["rollout"]["steps"] = [{"setWeight": 50}, {"pause": {}}]  # held for the faults
    story.apply(EXAMPLES / "canary" / "model-store.yaml")
    story.apply(doc)
    story.wait_condition("Ready", timeout=180)
    plane = ControlPlane()
    faults: list[str] = []
    targets = service_targets(kubectl, namespace, "m-canary", "m-canary")

    with LoadGenerator(
        targets, model="m-canary", rate=20, refresh=0.3, seed=SEED, max_seconds=240
    ) as load:
        v2 = copy.deepcopy(doc)
        v2["spec"]["training"]["params"]["max_depth"] = 4
        story.apply(v2)
        wait_for(
            quietly(lambda: (story.status().get("canary") or {}).get("paused")),
            timeout=180,
            what="the canary held at its pause",
        )
        digest = story.status()["candidate"]["modelSha256"]

        victim = rng.choice(story.serving_pods("v2"))["metadata"]["name"]
        kubectl(
            "delete", "pod", victim, "-n", namespace, "--grace-period=0", "--force", "--wait=false"
        )
        faults.append(f"canary pod {victim} killed")
        time.sleep(rng.uniform(1, 3))
        faults.append(f"kube-apiserver restarted in {plane.restart('kube-apiserver'):.1f}s")
        time.sleep(rng.uniform(1, 3))
        faults.append(f"etcd restarted in {plane.restart('etcd'):.1f}s")

        def canary_ready() -> bool | None:
            dep = kubectl.json("get", "deployment", "m-canary-v2", "-n", namespace)
            wanted = dep["spec"]["replicas"]
            return dep.get("status", {}).get("readyReplicas") == wanted or None

        wait_for(quietly(canary_ready), timeout=90, what="the canary's pods back")
        status = story.status()
        assert status["phase"] == "Canary" and status["canary"]["weight"] == 50, status

        kubectl(
            "annotate",
            "mdep",
            "m-canary",
            "-n",
            namespace,
            "--overwrite",
            "modelpilot.dev/abort-requested-at=fault-suite",
        )
        story.wait_phase("RolledBack", timeout=60)
        wait_for(
            quietly(lambda: story.names("deployments") == ["m-canary-v1"]),
            timeout=60,
            what="the canary's Deployment gone",
        )
        wait_for(
            quietly(lambda: {t.version for t in targets()} == {"v1"}),
            timeout=60,
            what="only v1 endpoints",
        )
        # The generator plays kube-proxy: the abort is done for its traffic once its own
        # copy of the endpoints (refreshed every 0.3 s) has dropped v2, not when ours has.
        wait_for(
            lambda: load.versions() == {"v1"} or None,
            timeout=10,
            what="the load generator's targets without v2",
        )
        load.mark()
        time.sleep(3)  # traffic after the abort is done
        after = sum(load.outcomes_since_mark.values())
        v2_after = sum(n for (v, _), n in load.outcomes_since_mark.items() if v == "v2")

    summary = load.summary()
    print(
        f"\nfault suite (seed {SEED}): canary faults — runs 1, faults {len(faults)}, "
        f"requests {load.sent}, failures to stable {load.failed('v1')}, "
        f"requests after the abort {after} (answered by the canary: {v2_after}): {summary}"
    )
    print("  " + "; ".join(faults))
    assert load.failed("v1") == 0, summary
    assert load.served("v1") > 0 and after > 0
    # Nothing answered from the aborted canary once the abort was done: every request after
    # it went to a v1 pod and was answered by v1 (a v2 answer would be "wrong-version").
    assert load.outcomes[("v1", "wrong-version")] == 0, summary
    assert v2_after == 0, summary
    status = story.status()
    assert status["stable"]["revision"] == "v1" and status["stable"]["modelSha256"] != digest
    assert sorted(uids(kubectl, namespace, "jobs")) == ["m-canary-train-v1", "m-canary-train-v2"]
