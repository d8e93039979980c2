"""Scenario walks: tick -> the fake cluster's controllers move -> tick, one step at a time.

These drive the whole operator core (observe, plan, status write, apply, Events) against the
in-memory cluster, so what they prove is what the kopf shell runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from reconcile_world import NAME, NS, SETTINGS, SPEC, T0, World, summary

from modelpilot.api import names
from modelpilot.api.summary import TrainingSummary
from modelpilot.operator.reconcile import tick
from modelpilot.operator.settings import Settings


def test_first_revision_trains_deploys_and_becomes_ready():
    w = World()
    w.tick()
    assert w.jobs() == ["iris-train-v1"]
    s = w.status()
    assert (s.phase, s.revision_counter, s.candidate.revision) == ("Training", 1, "v1")
    assert w.condition("Reconciling").status == "True"
    assert w.condition("Ready").status == "False"

    w.cluster.finish_job(NS, "iris-train-v1", summary("v1", 0.97))
    w.tick()
    assert w.status().phase == "Deploying"
    assert w.deployments() == ["iris-v1"]
    assert w.services() == ["iris-v1"]
    assert w.condition("Evaluated").status == "True"

    w.cluster.make_ready(NS, "iris-v1")
    w.tick()
    s = w.status()
    assert s.phase == "Serving" and s.stable.revision == "v1" and s.candidate is None
    assert s.stable.model_sha256 == "a" * 64
    assert w.services() == ["iris", "iris-v1"]
    # Service iris was created by that tick's actions: Ready once it is seen.
    assert w.condition("Ready").reason == "StableServiceUnavailable"
    w.tick()
    assert w.condition("Ready").status == "True"
    assert w.condition("Reconciling").status == "False"
    assert w.condition("Stalled").status == "False"
    assert [h.outcome for h in s.history] == ["Promoted"]
    assert s.observed_generation == 1
    assert [r for r, _ in w.cluster.events()].count("Promoted") == 1
    w.assert_converged()


def test_job_gets_the_contract_env_store_and_owner():
    w = World()
    w.tick()
    job = w.cluster.get("Job", NS, "iris-train-v1")
    md = w.cluster.get(names.KIND, NS, NAME)
    assert job["metadata"]["ownerReferences"][0]["uid"] == md["metadata"]["uid"]
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    uid = md["metadata"]["uid"]
    # The bundle is bound to this object: its uid is in the path and in the trainer's env.
    assert env["MODELPILOT_OUTPUT"] == f"/models/ml/iris/{uid}/v1"
    assert env["MODELPILOT_OWNER_UID"] == uid
    assert env["MODELPILOT_SPEC_HASH"] == w.status().candidate.spec_hash
    assert env["MODELPILOT_SPEC_JSON"].startswith('{"evaluation"')
    assert "MODELPILOT_STABLE_DIR" not in env
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "models"
    assert job["spec"]["activeDeadlineSeconds"] == 3600 and job["spec"]["backoffLimit"] == 1


def test_second_revision_compares_with_stable_and_replaces_it():
    w = World()
    w.tick()
    w.serve("v1", 0.93)
    w.cluster.apply_model_deployment(
        NS, NAME, {**SPEC, "training": {**SPEC["training"], "params": {"n_estimators": 20}}}
    )
    w.tick()
    job = w.cluster.get("Job", NS, "iris-train-v2")
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    uid = w.cluster.get(names.KIND, NS, NAME)["metadata"]["uid"]
    assert env["MODELPILOT_STABLE_DIR"] == f"/models/ml/iris/{uid}/v1"
    assert env["MODELPILOT_STABLE_SHA256"] == "a" * 64
    assert w.status().candidate.trigger == "SpecChanged"
    assert w.condition("Ready").status == "True"  # v1 keeps serving while v2 trains

    w.serve("v2", 0.97, stable=0.93, sha="b")
    s = w.status()
    assert s.stable.revision == "v2" and s.phase == "Serving"
    assert w.deployments() == ["iris-v2"]
    assert w.services() == ["iris", "iris-v2"]
    assert w.cluster.get("Service", NS, "iris")["spec"]["selector"][names.LABEL_REVISION] == "v2"
    w.assert_converged()


def test_worse_candidate_is_rejected_and_stable_untouched():
    w = World()
    w.tick()
    w.serve("v1", 0.95)
    w.cluster.apply_model_deployment(NS, NAME, SPEC, annotations={names.ANNOTATION_RETRAIN: "1"})
    w.tick()
    assert w.status().candidate.trigger == "RetrainRequested"
    w.cluster.finish_job(NS, "iris-train-v2", summary("v2", 0.90, stable=0.95, sha="b"))
    w.tick()
    s = w.status()
    assert s.phase == "Rejected" and s.stable.revision == "v1"
    assert s.candidate.verdict == "WorseThanStable"
    ev = w.condition("Evaluated")
    assert (ev.status, ev.reason) == ("False", "WorseThanStable")
    assert "0.9000" in ev.message and "0.9500" in ev.message
    assert w.condition("Ready").status == "True"
    assert w.condition("Stalled").status == "False"
    assert w.deployments() == ["iris-v1"]
    w.assert_converged()


def test_threshold_miss_without_stable_stalls_with_scores():
    w = World({**SPEC, "evaluation": {"metric": "accuracy", "threshold": 0.99}})
    w.tick()
    w.cluster.finish_job(NS, "iris-train-v1", summary("v1", 0.93))
    w.tick()
    assert w.status().phase == "Rejected"
    ev = w.condition("Evaluated")
    assert (ev.status, ev.reason) == ("False", "BelowThreshold")
    assert "0.9300" in ev.message and "0.9900" in ev.message
    assert w.condition("Stalled").reason == "NoModelPassed"
    assert w.deployments() == []
    w.assert_converged()


def test_training_failure_stalls_and_a_new_spec_recovers():
    w = World(
        {
            **SPEC,
            "training": {
                **SPEC["training"],
                "dataset": {"uri": "/models/data/x.csv", "target": "nope"},
            },
        }
    )
    w.tick()
    failed = TrainingSummary(
        ok=False,
        revision="v1",
        exit_code=3,
        error="DataError: target column 'nope' is not in /models/data/x.csv",
    )
    w.cluster.finish_job(NS, "iris-train-v1", failed, failed=True)
    w.tick()
    s = w.status()
    assert s.phase == "Failed"
    stalled = w.condition("Stalled")
    assert stalled.status == "True" and "target column 'nope'" in stalled.message
    assert w.condition("Trained").status == "False"
    w.assert_converged()

    w.cluster.apply_model_deployment(NS, NAME, SPEC)
    w.tick()
    assert w.status().phase == "Training" and w.status().candidate.revision == "v2"
    assert w.condition("Stalled").status == "False"
    w.serve("v2", 0.96)
    assert w.status().phase == "Serving"


def test_timeout_is_reported_as_such():
    w = World()
    w.tick()
    w.cluster.finish_job(
        NS, "iris-train-v1", None, failed=True, reason="DeadlineExceeded", raw_message=""
    )
    w.tick()
    assert w.condition("Stalled").reason == "TrainingTimedOut"


def test_crash_before_summary_shows_the_log_tail():
    w = World()
    w.tick()
    w.cluster.finish_job(
        NS,
        "iris-train-v1",
        None,
        failed=True,
        raw_message="Traceback ...\nModuleNotFoundError: No module named 'x'",
    )
    w.tick()
    assert "No module named 'x'" in w.condition("Stalled").message


def test_estimator_outside_allowlist_is_refused_without_a_job_then_fixed():
    w = World({**SPEC, "training": {**SPEC["training"], "estimator": "xgboost.XGBClassifier"}})
    w.tick()
    assert w.jobs() == []
    s = w.status()
    assert s.phase == "Failed" and s.revision_counter == 0
    stalled = w.condition("Stalled")
    assert stalled.reason == "EstimatorNotAllowed" and "xgboost.XGBClassifier" in stalled.message
    w.assert_converged()
    assert [r for r, _ in w.cluster.events()].count("EstimatorNotAllowed") == 1

    w.cluster.apply_model_deployment(NS, NAME, SPEC)
    w.tick()
    assert w.jobs() == ["iris-train-v1"] and w.status().phase == "Training"


def test_invalid_spec_changes_nothing_but_conditions():
    w = World()
    w.tick()
    w.serve("v1", 0.95)
    w.cluster.apply_model_deployment(
        NS, NAME, {**SPEC, "evaluation": {"metric": "accuracy", "threshold": 7}}
    )
    w.tick()
    s = w.status()
    assert s.phase == "Failed" and s.stable.revision == "v1"
    assert w.condition("Stalled").reason == "InvalidSpec"
    assert "threshold" in w.condition("Stalled").message
    assert w.condition("Ready").status == "True"
    w.assert_converged()
    w.cluster.apply_model_deployment(NS, NAME, SPEC)  # reverted: nothing to retrain
    w.tick()
    assert w.status().phase == "Serving" and w.jobs() == ["iris-train-v1"]


def test_spec_change_mid_training_supersedes_the_job():
    w = World()
    w.tick()
    w.cluster.apply_model_deployment(NS, NAME, {**SPEC, "evaluation": {"metric": "f1_macro"}})
    w.tick()
    s = w.status()
    assert s.candidate.revision == "v2" and s.history[0].outcome == "Superseded"
    assert w.jobs() == ["iris-train-v2"]  # v1's running Job was deleted
    assert s.candidate.metric == "f1_macro"


def test_restart_between_status_write_and_job_creation_creates_one_job():
    w = World()
    original_create = w.cluster.create

    def crash_on_job(kind, namespace, body):
        if kind == "Job":
            raise SystemExit("operator killed")
        return original_create(kind, namespace, body)

    w.cluster.create = crash_on_job
    with pytest.raises(SystemExit):
        w.tick()
    assert w.status().revision_counter == 1 and w.jobs() == []
    w.cluster.create = original_create
    w.tick()
    w.tick()
    assert w.jobs() == ["iris-train-v1"] and w.status().revision_counter == 1


def test_stale_status_write_is_refused_and_nothing_is_applied():
    w = World()
    original = w.cluster.replace_status

    def someone_wrote_first(namespace, name, body):
        w.cluster.apply_model_deployment(NS, NAME, {**SPEC, "serving": {"replicas": 3}})
        return original(namespace, name, body)

    w.cluster.replace_status = someone_wrote_first
    with pytest.raises(Exception, match="modified"):
        w.tick()
    assert w.jobs() == []


def test_deleted_stable_deployment_is_recreated_and_ready_drops_meanwhile():
    w = World()
    w.tick()
    w.serve("v1", 0.95)
    w.cluster.delete("Deployment", NS, "iris-v1")
    w.tick()
    assert w.deployments() == ["iris-v1"]
    assert w.condition("Ready").status == "False"
    assert w.condition("Reconciling").reason == "StableRollingOut"
    w.cluster.make_ready(NS, "iris-v1")
    w.tick()
    assert w.condition("Ready").status == "True"


def test_replicas_change_scales_without_retraining():
    w = World()
    w.tick()
    w.serve("v1", 0.95)
    w.cluster.apply_model_deployment(NS, NAME, {**SPEC, "serving": {"replicas": 4}})
    result = w.tick()
    from modelpilot.operator.rollout.actions import ScaleDeployment

    assert result.plan.actions == (ScaleDeployment("iris-v1", 4),)
    assert w.cluster.get("Deployment", NS, "iris-v1")["spec"]["replicas"] == 4
    assert w.status().revision_counter == 1


def test_serving_pods_that_never_become_ready_fail_the_revision():
    w = World()
    w.tick()
    w.cluster.finish_job(NS, "iris-train-v1", summary("v1", 0.95))
    w.tick()
    w.cluster.fail_progress(
        NS, "iris-v1", "bundle /models/ml/iris/v1 was trained with other versions"
    )
    w.tick()
    s = w.status()
    assert s.phase == "Failed"
    assert "other versions" in w.condition("Stalled").message
    assert w.deployments() == []


def test_schedule_starts_a_revision_when_it_fires():
    w = World({**SPEC, "training": {**SPEC["training"], "schedule": "0 * * * *"}})
    w.tick()
    w.serve("v1", 0.95)
    assert w.status().next_scheduled_at == datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
    w.now = datetime(2026, 1, 1, 12, 59, tzinfo=UTC)
    result = w.tick()
    assert w.status().revision_counter == 1
    assert result.requeue_after == pytest.approx(60)
    w.now = datetime(2026, 1, 1, 13, 0, 1, tzinfo=UTC)
    w.tick()
    assert w.status().candidate.trigger == "Scheduled" and w.jobs()[-1] == "iris-train-v2"


def test_pending_training_pod_is_explained():
    w = World()
    w.tick()
    w.cluster.pend_job_pod(NS, "iris-train-v1", "0/1 nodes are available: 1 Insufficient cpu.")
    w.tick()
    r = w.condition("Reconciling")
    assert r.reason == "TrainingPending" and "Insufficient cpu" in r.message


def test_deleted_model_deployment_is_gone():
    w = World()
    w.tick()
    w.cluster.delete(names.KIND, NS, NAME)
    assert w.cluster.of_kind("Job") == {}
    assert tick(w.cluster, SETTINGS, NS, NAME, T0).gone


def test_history_is_bounded():
    w = World()
    w.tick()
    for i in range(1, 15):
        w.cluster.apply_model_deployment(
            NS, NAME, SPEC, annotations={names.ANNOTATION_RETRAIN: str(i)}
        )
        w.tick()
    s = w.status()
    assert s.revision_counter == 15 and len(s.history) == 10


def test_an_object_of_our_name_owned_by_someone_else_stalls_until_it_is_gone():
    w = World()
    foreign = {"metadata": {"name": NAME, "namespace": NS}, "spec": {"selector": {"app": "x"}}}
    w.cluster.create("Service", NS, foreign)
    w.tick()
    w.serve("v1", 0.97)  # Ready: the promotion wants Service NAME, which someone else owns
    w.tick()
    stalled = w.condition("Stalled")
    assert (stalled.status, stalled.reason) == ("True", "NotOwned")
    assert "rename or delete it" in stalled.message
    assert w.cluster.get("Service", NS, NAME)["spec"]["selector"] == {"app": "x"}, "not touched"
    events = [r for r, _ in w.cluster.events()]
    since = stalled.last_transition_time
    w.tick()  # no flapping back to False, no second Event
    assert w.condition("Stalled").status == "True"
    assert w.condition("Stalled").last_transition_time == since
    assert [r for r, _ in w.cluster.events()].count("NotOwned") == events.count("NotOwned") == 1

    w.cluster.delete("Service", NS, NAME)
    w.tick()
    w.tick()
    assert w.condition("Stalled").status == "False"
    assert w.services() == ["iris", "iris-v1"]
    w.assert_converged()


def test_a_job_of_our_name_owned_by_someone_else_stalls_training_with_the_reason():
    # Issue 21 §7: on main the create met AlreadyExists, counted as done, and Training waited
    # silently on a Job observe() never believes (seen failing: Stalled stayed False).
    w = World()
    foreign = {
        "metadata": {"name": f"{NAME}-train-v1", "namespace": NS},
        "spec": {"template": {"spec": {"containers": []}}},
    }
    w.cluster.create("Job", NS, foreign)
    w.tick()
    stalled = w.condition("Stalled")
    assert (stalled.status, stalled.reason) == ("True", "NotOwned")
    assert f"Job {NS}/{NAME}-train-v1 exists but is not owned" in stalled.message
    assert w.cluster.get("Job", NS, f"{NAME}-train-v1")["spec"] == foreign["spec"], "untouched"

    w.cluster.delete("Job", NS, f"{NAME}-train-v1")
    w.tick()
    w.tick()
    assert w.condition("Stalled").status == "False"
    job = w.cluster.get("Job", NS, f"{NAME}-train-v1")
    assert job["metadata"]["ownerReferences"][0]["kind"] == names.KIND


def test_retries_back_off_exponentially_with_jitter():
    from modelpilot.operator.workqueue import WorkQueue

    def never(key):
        raise AssertionError("not ticked")

    low = WorkQueue(never, resync_seconds=300, max_backoff=60, jitter=lambda: 0.0)
    high = WorkQueue(never, resync_seconds=300, max_backoff=60, jitter=lambda: 1.0)
    assert [high.backoff(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert [low.backoff(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]  # jitter takes up to half
    assert high.backoff(30) == 60.0 and low.backoff(30) == 30.0  # capped
    assert high.backoff(1, base=0.2) == 0.2  # a Conflict looks again soon


def _server_args(w):
    return w.cluster.get("Deployment", NS, "iris-v1")["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]


def test_max_batch_rows_reaches_the_server_and_the_default_changes_no_pod():
    from modelpilot.api.spec import DEFAULT_MAX_BATCH_ROWS
    from modelpilot.serving.settings import DEFAULT_MAX_BATCH_ROWS as SERVER_DEFAULT

    assert DEFAULT_MAX_BATCH_ROWS == SERVER_DEFAULT, "the spec's default is the server's"
    w = World()
    w.tick()
    w.serve("v1", 0.95)
    assert "--max-batch-rows" not in _server_args(w), "a default spec keeps its pod template"
    w.assert_converged()

    w.cluster.apply_model_deployment(
        NS, NAME, {**SPEC, "serving": {**SPEC["serving"], "maxBatchRows": 64}}
    )
    w.tick()
    args = _server_args(w)
    assert args[args.index("--max-batch-rows") + 1] == "64"
    assert w.status().revision_counter == 1, "serving settings never retrain"


def test_a_re_created_model_deployment_trains_and_serves_its_own_bundles():
    # GitOps delete + apply under the same name: another object (uid), another estimator.
    w = World()
    w.tick()
    w.serve("v1", 0.93)
    old_uid = w.cluster.get(names.KIND, NS, NAME)["metadata"]["uid"]
    w.cluster.delete(names.KIND, NS, NAME)
    assert w.jobs() == [] and w.deployments() == []  # garbage-collected by owner
    w.cluster.apply_model_deployment(
        NS,
        NAME,
        {
            **SPEC,
            "training": {**SPEC["training"], "estimator": "sklearn.tree.DecisionTreeClassifier"},
        },
    )
    new_uid = w.cluster.get(names.KIND, NS, NAME)["metadata"]["uid"]
    assert new_uid != old_uid
    w.tick()
    job = w.cluster.get("Job", NS, "iris-train-v1")
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MODELPILOT_OUTPUT"] == f"/models/ml/iris/{new_uid}/v1"
    assert env["MODELPILOT_OWNER_UID"] == new_uid
    w.serve("v1", 0.95, sha="c")
    deployment = w.cluster.get("Deployment", NS, "iris-v1")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--model-dir") + 1] == f"/models/ml/iris/{new_uid}/v1"
    assert args[args.index("--expected-owner-uid") + 1] == new_uid
    assert args[args.index("--expected-sha256") + 1] == "c" * 64


def _mounts(container: dict) -> list[tuple[str, str, str | None, bool]]:
    return [
        (m["name"], m["mountPath"], m.get("subPath"), bool(m.get("readOnly")))
        for m in container.get("volumeMounts") or []
    ]


def test_pods_mount_only_their_part_of_the_store():
    w = World(
        {
            **SPEC,
            "training": {
                **SPEC["training"],
                "dataset": {"uri": "/models/data/flowers.csv", "target": "species"},
            },
        }
    )
    w.tick()
    uid = w.cluster.get(names.KIND, NS, NAME)["metadata"]["uid"]
    v1 = f"ml/iris/{uid}/v1"
    pod = w.cluster.get("Job", NS, "iris-train-v1")["spec"]["template"]["spec"]
    [trainer] = pod["containers"]
    # Its own revision read-write, the dataset's directory read-only, nothing else (and an
    # emptyDir /tmp for scratch: the root filesystem is read-only).
    assert _mounts(trainer) == [
        ("model-store", f"/models/{v1}", v1, False),
        ("model-store", "/models/data", "data", True),
        ("tmp", "/tmp", None, False),
    ]
    [prepare] = pod["initContainers"]
    assert prepare["command"] == ["modelpilot", "prepare-store"]
    assert _mounts(prepare) == [("model-store", "/models/ml/iris", "ml/iris", False)]
    env = {e["name"]: e["value"] for e in prepare["env"]}
    assert env["MODELPILOT_KEEP_LAST"] == "5" and env["MODELPILOT_OWNER_UID"] == uid
    assert env["MODELPILOT_KEEP_REVISIONS"] == "v1"

    w.serve("v1", 0.93)
    serving = w.cluster.get("Deployment", NS, "iris-v1")["spec"]["template"]["spec"]
    [server] = serving["containers"]
    assert _mounts(server) == [
        ("model-store", f"/models/{v1}", v1, True),
        ("tmp", "/tmp", None, False),
    ]

    w.cluster.apply_model_deployment(
        NS, NAME, {**SPEC, "training": {**SPEC["training"], "params": {"n_estimators": 20}}}
    )
    w.tick()
    pod = w.cluster.get("Job", NS, "iris-train-v2")["spec"]["template"]["spec"]
    v2 = f"ml/iris/{uid}/v2"
    assert _mounts(pod["containers"][0]) == [
        ("model-store", f"/models/{v2}", v2, False),
        ("model-store", f"/models/{v1}", v1, True),
        ("tmp", "/tmp", None, False),
    ]
    env = {e["name"]: e["value"] for e in pod["initContainers"][0]["env"]}
    assert env["MODELPILOT_KEEP_REVISIONS"] == "v1,v2"


@pytest.mark.parametrize(
    ("uri", "subpath"),
    [
        ("/models/data/x.csv", "data"),
        ("file:///models/a/b/x.parquet", "a/b"),
        ("/models/x.csv", None),  # the store's root would expose every bundle
        ("/models/../etc/x.csv", None),
        ("/data/x.csv", None),
        ("s3://bucket/x.csv", None),
        (None, None),
        ("/models/data/sales/2026-*/part-*.parquet", "data/sales"),
        ("/models/data/sales/", "data"),
        ("/models/*.csv", None),
    ],
    ids=[
        "store-dir",
        "file-uri",
        "store-root",
        "climbs-out",
        "outside",
        "remote",
        "builtin",
        "glob-mounts-above-its-first-wildcard",
        "a-directory-of-parts",
        "a-glob-at-the-store-root",
    ],
)
def test_only_a_dataset_directory_inside_the_store_is_mounted(uri, subpath):
    from modelpilot.operator.objects import dataset_subpath

    assert dataset_subpath(SETTINGS, uri) == subpath


def test_pods_without_spec_resources_get_the_operators_defaults_and_a_read_only_root():
    w = World()
    w.tick()
    job = w.cluster.get("Job", NS, "iris-train-v1")
    pod = job["spec"]["template"]["spec"]
    (trainer,) = pod["containers"]
    assert trainer["resources"] == SETTINGS.training_resources
    assert trainer["resources"]["limits"]["memory"]
    assert trainer["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in trainer["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}} in pod["volumes"]
    assert job["spec"]["activeDeadlineSeconds"] == 3600
    w.serve("v1", 0.95)
    (server,) = w.cluster.get("Deployment", NS, "iris-v1")["spec"]["template"]["spec"]["containers"]
    assert server["resources"] == SETTINGS.serving_resources


def test_spec_resources_win_over_the_defaults():
    spec = {
        **SPEC,
        "training": {**SPEC["training"], "resources": {"limits": {"memory": "8Gi"}}},
        "serving": {"replicas": 1, "resources": {"requests": {"cpu": "2"}}},
    }
    w = World(spec)
    w.tick()
    (trainer,) = w.cluster.get("Job", NS, "iris-train-v1")["spec"]["template"]["spec"]["containers"]
    assert trainer["resources"] == {"limits": {"memory": "8Gi"}}
    w.cluster.finish_job(NS, "iris-train-v1", summary("v1", 0.95))
    w.tick()
    (server,) = w.cluster.get("Deployment", NS, "iris-v1")["spec"]["template"]["spec"]["containers"]
    assert server["resources"] == {"requests": {"cpu": "2"}}


def test_finished_jobs_beyond_the_newest_few_go_and_are_never_recreated():
    w = World(settings=Settings(trainer_image="t", serving_image="s", finished_jobs_kept=1))
    w.tick()
    w.serve("v1", 0.93)
    assert w.jobs() == ["iris-train-v1"]  # the newest finished Job stays for kubectl logs
    for i, rev in enumerate(["v2", "v3"], start=1):
        w.cluster.apply_model_deployment(
            NS, NAME, SPEC, annotations={names.ANNOTATION_RETRAIN: str(i)}
        )
        w.tick()
        assert f"iris-train-{rev}" in w.jobs()
        w.serve(rev, 0.95 + i / 100, stable=0.93)
        assert w.status().stable.revision == rev
    assert w.jobs() == ["iris-train-v3"]
    for _ in range(5):
        w.tick()
    creates = [name for verb, kind, name in w.cluster.calls if verb == "create" and kind == "Job"]
    assert creates == ["iris-train-v1", "iris-train-v2", "iris-train-v3"]
    assert w.jobs() == ["iris-train-v3"]
    w.assert_converged()


def test_a_job_that_finished_is_not_deleted_before_its_summary_is_read():
    w = World(settings=Settings(trainer_image="t", serving_image="s", finished_jobs_kept=0))
    w.tick()
    w.cluster.finish_job(NS, "iris-train-v1", summary("v1", 0.97))
    result = w.tick()
    # Read and judged in the same tick the Job is deleted: status already has the digest.
    assert w.status().candidate.model_sha256 == "a" * 64
    assert w.status().phase == "Deploying"
    assert any(type(a).__name__ == "DeleteJob" for a in result.plan.actions)
    assert w.jobs() == []
    w.cluster.make_ready(NS, "iris-v1")
    w.tick()
    assert w.status().stable.revision == "v1"
    creates = [name for verb, kind, name in w.cluster.calls if verb == "create" and kind == "Job"]
    assert creates == ["iris-train-v1"]


def test_ready_looks_at_the_stable_service_too():
    w = World()
    w.tick()
    w.serve("v1", 0.95)
    w.tick()
    assert w.condition("Ready").status == "True"
    w.cluster.delete("Service", NS, "iris")
    result = w.tick()
    ready = w.condition("Ready")
    assert (ready.status, ready.reason) == ("False", "StableServiceUnavailable")
    assert "Service iris is missing" in ready.message
    assert w.condition("Reconciling").status == "True"
    assert result.plan.requeue_after is not None
    assert w.services() == ["iris", "iris-v1"]  # put back by that tick
    w.tick()
    assert w.condition("Ready").status == "True"


def test_each_transition_logs_the_modeldeployment_and_revision_as_fields(caplog):
    """What --log-format json prints as fields (modelpilot.api.logformat)."""
    w = World()
    with caplog.at_level("INFO", logger="modelpilot.operator"):
        w.tick()
    (record,) = [r for r in caplog.records if "Pending -> Training" in r.getMessage()]
    assert record.modeldeployment == f"{NS}/{NAME}" and record.revision == "v1"
    from modelpilot.api.logformat import formatter

    line = json.loads(formatter("json").format(record))
    assert (line["modeldeployment"], line["revision"]) == (f"{NS}/{NAME}", "v1")
