"""Trust in model bundles, on the real control plane: a bundle belongs to the object that
trained it, and a pod sees of the model store only what it must.

The operator runs as a subprocess; pods run on the local node (kubelet + containerd), each
in its own mount namespace with the volume mounts the pod spec asks for.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import urllib.request

import pytest
import yaml
from canary_harness import run_cli
from kube import wait_for
from operator_harness import EXAMPLES, Story
from planted import beacon, node_host, plant_bundle, reported_digest

from modelpilot.api.bundle import read_metadata

POD_UID = 65532  # the operator's default MODELPILOT_POD_UID

pytestmark = pytest.mark.e2e

IRIS = yaml.safe_load((EXAMPLES / "iris" / "iris.yaml").read_text())
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
FOREST = "sklearn.ensemble.RandomForestClassifier"
TREE = "sklearn.tree.DecisionTreeClassifier"


def iris_with(estimator: str, params: dict) -> dict:
    doc = copy.deepcopy(IRIS)
    doc["spec"]["training"] = {**doc["spec"]["training"], "estimator": estimator, "params": params}
    return doc


def served_digest(story: Story, revision: str) -> str:
    """The digest the serving pod answers with (the header on every response)."""
    [pod] = story.serving_pods(revision)
    url = f"http://{pod['status']['podIP']}:8080/v1/models/iris:predict"
    request = urllib.request.Request(
        url,
        data=json.dumps({"instances": ROWS}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return response.headers["modelpilot-model-sha256"]


def test_a_model_deployment_deleted_and_applied_again_serves_its_own_model(
    operator, story, kubectl, namespace
):
    # Given iris served with a random forest,
    story.apply(EXAMPLES / "iris" / "model-store.yaml")
    story.apply(iris_with(FOREST, {"n_estimators": 20, "random_state": 0}))
    story.wait_condition("Ready")
    first = story.status()["stable"]
    old_uid = story.mdep()["metadata"]["uid"]
    store = story.store_dir()
    assert read_metadata(store / namespace / "iris" / old_uid / "v1").estimator == FOREST
    first_job = kubectl.json("get", "job", "iris-train-v1", "-n", namespace)["metadata"]["uid"]

    # when a GitOps user deletes it and applies the same name with another estimator,
    kubectl("delete", "mdep", "iris", "-n", namespace, "--wait=true", "--timeout=60s")
    wait_for(
        lambda: story.names("deployments") == [] and story.names("jobs") == [],
        timeout=60,
        what="the old incarnation's objects gone",
    )
    story.apply(iris_with(TREE, {"random_state": 0}))
    story.wait_condition("Ready", timeout=180)

    # then its v1 is trained afresh by a new Job, into its own directory,
    new_uid = story.mdep()["metadata"]["uid"]
    assert new_uid != old_uid
    second = story.status()["stable"]
    assert second["revision"] == "v1"
    assert kubectl.json("get", "job", "iris-train-v1", "-n", namespace)["metadata"]["uid"] != (
        first_job
    )
    metadata = read_metadata(store / namespace / "iris" / new_uid / "v1")
    assert metadata.estimator == TREE and metadata.owner_uid == new_uid
    assert metadata.model_sha256 == second["modelSha256"] != first["modelSha256"]
    # the predecessor's bundles were not adopted but collected by the new Job's init step,
    assert not (store / namespace / "iris" / old_uid).exists()
    # and the model that answers is the new one.
    assert served_digest(story, "v1") == second["modelSha256"]
    args = kubectl.json("get", "deployment", "iris-v1", "-n", namespace)["spec"]["template"][
        "spec"
    ]["containers"][0]["args"]
    assert args[args.index("--expected-owner-uid") + 1] == new_uid


PROBE = r"""
import json, os, sys
own, uid_dir = os.environ["MODELPILOT_OUTPUT"], os.path.dirname(os.environ["MODELPILOT_OUTPUT"])
seen = {
    "own_bundle": sorted(n for n in os.listdir(own) if not n.startswith(".")),
    "decoy_in_incarnation": os.path.exists(os.path.join(uid_dir, "decoy", "secret.txt")),
    "other_model": os.path.exists(os.path.join(os.path.dirname(os.path.dirname(uid_dir)),
                                               "other-model", "secret.txt")),
}
probe = os.path.join(own, ".probe")
with open(probe, "w") as f:
    f.write("written from the pod")
seen["own_writable"] = True
try:
    with open(os.path.join(uid_dir, "decoy", "planted.txt"), "w") as f:
        f.write("x")
    seen["planted_beside"] = os.path.dirname(uid_dir)
except OSError as exc:
    seen["planted_beside"] = None
open("/dev/termination-log", "w").write(json.dumps(seen))
"""


def test_pods_mount_only_their_part_of_the_store_and_old_bundles_are_collected(
    operator, story, kubectl, namespace
):
    # Given a store holding what must not be visible to a training pod, and leftovers,
    story.apply(EXAMPLES / "iris" / "model-store.yaml")
    store = story.store_dir()
    (store / namespace / "other-model").mkdir(parents=True, exist_ok=True)
    (store / namespace / "other-model" / "secret.txt").write_text("not yours")
    stale = store / namespace / "iris" / "33333333-3333-3333-3333-333333333333" / "v1"
    stale.mkdir(parents=True)
    (stale / "metadata.json").write_text("{}")  # a deleted incarnation's bundle
    # left as that incarnation's pods left it: owned by the pods' user, not by this test's
    # root (on the real node they run as POD_UID and could neither collect nor write here).
    for path in (store / namespace / "iris", *(store / namespace / "iris").rglob("*")):
        os.chown(path, POD_UID, POD_UID)
    # when iris is applied and trained,
    story.apply(iris_with(FOREST, {"n_estimators": 20, "random_state": 0}))
    story.wait_condition("Ready")
    uid = story.mdep()["metadata"]["uid"]
    v1 = f"{namespace}/iris/{uid}/v1"

    # then its Job's pod mounts its revision read-write and nothing else of the store,
    job = kubectl.json("get", "job", "iris-train-v1", "-n", namespace)
    pod_spec = job["spec"]["template"]["spec"]
    [trainer] = pod_spec["containers"]
    assert [m for m in trainer["volumeMounts"] if m["name"] == "model-store"] == [
        {"name": "model-store", "mountPath": f"/models/{v1}", "subPath": v1}
    ]
    # (beside it only scratch space: the root filesystem is read-only)
    others = [m for m in trainer["volumeMounts"] if m["name"] != "model-store"]
    assert others == [{"mountPath": "/tmp", "name": "tmp"}]
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert "emptyDir" in volumes["tmp"]
    [prepare] = pod_spec["initContainers"]
    assert prepare["volumeMounts"] == [
        {
            "name": "model-store",
            "mountPath": f"/models/{namespace}/iris",
            "subPath": f"{namespace}/iris",
        }
    ]
    # its serving pod only its bundle, read-only,
    serving = kubectl.json("get", "deployment", "iris-v1", "-n", namespace)
    [server] = serving["spec"]["template"]["spec"]["containers"]
    assert {
        "name": "model-store",
        "mountPath": f"/models/{v1}",
        "subPath": v1,
        "readOnly": True,
    } in server["volumeMounts"]
    assert len([m for m in server["volumeMounts"] if m["name"] == "model-store"]) == 1
    # and the earlier incarnation's bundle was collected, while other models are untouched.
    assert not stale.parent.exists()
    assert (store / namespace / "other-model" / "secret.txt").read_text() == "not yours"

    # A pod with exactly the Job's volumes and mounts sees and writes only its revision.
    (store / namespace / "iris" / uid / "decoy").mkdir()
    (store / namespace / "iris" / uid / "decoy" / "secret.txt").write_text("a sibling")
    probe_spec = {
        **pod_spec,
        "initContainers": [],
        "containers": [{**trainer, "command": ["python", "-c", PROBE]}],
    }
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "mount-probe", "namespace": namespace},
            "spec": probe_spec,
        },
        namespace,
    )

    def terminated() -> dict | None:
        pod = kubectl.json("get", "pod", "mount-probe", "-n", namespace)
        for status in pod.get("status", {}).get("containerStatuses") or []:
            done = (status.get("state") or {}).get("terminated")
            if done:
                return done
        return None

    done = wait_for(terminated, timeout=90, what="the probe pod to finish")
    assert done["exitCode"] == 0, done
    seen = json.loads(done["message"])
    assert seen["own_bundle"] == ["metadata.json", "model.joblib"]
    assert seen["own_writable"] is True
    assert (store / v1 / ".probe").read_text() == "written from the pod"
    assert seen["decoy_in_incarnation"] is False and seen["other_model"] is False
    # Whatever the pod wrote beside its revision did not land in the store.
    assert not (store / namespace / "iris" / uid / "decoy" / "planted.txt").exists()
    (store / v1 / ".probe").unlink()


def test_a_planted_bundle_never_runs_and_the_jobs_own_digest_serves(
    operator, story, kubectl, namespace, kube, tmp_path
):
    # Given iris v1 serving from the PVC store,
    story.apply(EXAMPLES / "iris" / "model-store.yaml")
    story.apply(iris_with(FOREST, {"n_estimators": 20, "random_state": 0}))
    story.wait_condition("Ready")
    uid = story.mdep()["metadata"]["uid"]
    model_dir = story.store_dir() / namespace / "iris" / uid
    v1_meta = json.loads((model_dir / "v1" / "metadata.json").read_text())
    with beacon(node_host(kubectl)) as home:
        # when someone who can write to the store plants a complete bundle at v2's place,
        # copying v1's binding and a perfect score, as the pods' user would have written it,
        planted = plant_bundle(model_dir / "v2", copy_of=v1_meta, revision="v2", url=home.url)
        kept = tmp_path / "model.joblib"  # for the control below: the trainer removes it
        kept.write_bytes((model_dir / "v2" / "model.joblib").read_bytes())
        for path in (model_dir / "v2", *(model_dir / "v2").iterdir()):
            os.chown(path, POD_UID, POD_UID)
        # and `modelpilot retrain` is run,
        assert run_cli(kube, "retrain", "iris", "-n", namespace).returncode == 0

        def v2_stable_or_code_ran() -> dict | None:
            if home.hits:
                return {"ran": home.hits}
            status = story.status()
            return status if (status.get("stable") or {}).get("revision") == "v2" else None

        outcome = wait_for(v2_stable_or_code_ran, timeout=240, what="v2 stable")
        # then the planted code never ran, in any pod (on main a serving pod ran it),
        assert home.hits == [], f"the planted model was unpickled: {home.hits}"
        v2 = outcome["stable"]
        story.wait_condition("Ready", timeout=120)

        # and the digest that serves is the one v2's own Job reported, not the planted one,
        own = reported_digest(kubectl, namespace, "iris-train-v2")
        assert v2["modelSha256"] == own != planted
        stored = (model_dir / "v2" / "model.joblib").read_bytes()
        assert hashlib.sha256(stored).hexdigest() == own
        assert read_metadata(model_dir / "v2").owner_uid == uid
        assert served_digest(story, "v2") == own
        assert home.hits == []
        # (control: the planted payload is live — unpickled here, it calls home).
        home.control(kept)
