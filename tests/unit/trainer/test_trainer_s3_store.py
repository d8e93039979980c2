"""The trainer's side of an S3 store: stable comes down to be verified as on a PVC, the new
bundle goes up once, and old revisions nobody names are collected with the PVC's rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from api_samples import tiny_bundle
from s3_memory import MemoryS3

from modelpilot.api import s3
from modelpilot.api.bundle import MODEL_FILE, BundleDigestMismatch, verify_bundle
from modelpilot.trainer import s3_store
from modelpilot.trainer.errors import DataError
from modelpilot.trainer.settings import Settings
from modelpilot.trainer.store import garbage_names

UID = "0b6f3c1e-1111-4222-8333-944455556666"
OLD = "11111111-1111-1111-1111-111111111111"


def settings(tmp_path: Path, revision: str, stable: str | None = None) -> Settings:
    root = tmp_path / "models" / "ml" / "iris" / UID
    return Settings(
        output=root / revision,
        spec_path=None,
        spec_json="{}",
        stable_dir=None if stable is None else root / stable,
        stable_sha256=None if stable is None else "x",
        termination_log=None,
        name="iris",
        namespace="ml",
        revision=revision,
        allowlist=("*",),
        owner_uid=UID,
    )


def remote(store: MemoryS3) -> s3_store.RemoteStore:
    return s3_store.RemoteStore(location=s3.StoreLocation("models", "mp"), client=store)


def test_stable_comes_down_and_the_new_bundle_goes_up_under_the_uid(tmp_path):
    bundle, sha = tiny_bundle(tmp_path / "made")
    store = MemoryS3()
    s3.upload_bundle(
        store, bucket="models", key_prefix=f"mp/ml/iris/{UID}/v1/", bundle_dir=bundle, sha256=sha
    )
    v2 = settings(tmp_path, "v2", stable="v1")
    s3_store.fetch_inputs(v2, remote(store))
    assert verify_bundle(v2.stable_dir, sha).model_sha256 == sha
    # the trainer writes v2 locally (here: a copy of v1's files), then publishes it
    v2.output.mkdir(parents=True)
    for f in bundle.iterdir():
        (v2.output / f.name).write_bytes(f.read_bytes())
    s3_store.publish(v2, remote(store), sha)
    assert store.objects["models", f"mp/ml/iris/{UID}/v2/{MODEL_FILE}"][1] == {"sha256": sha}
    # A retried pod publishes its own bundle in place of what lay there (never adopted).
    s3_store.publish(v2, remote(store), "f" * 64)
    assert store.objects["models", f"mp/ml/iris/{UID}/v2/{MODEL_FILE}"][1] == {"sha256": "f" * 64}


def test_a_tampered_stable_downloads_but_is_refused_by_digest(tmp_path):
    bundle, sha = tiny_bundle(tmp_path / "made")
    store = MemoryS3()
    s3.upload_bundle(
        store, bucket="models", key_prefix=f"mp/ml/iris/{UID}/v1/", bundle_dir=bundle, sha256=sha
    )
    store.objects["models", f"mp/ml/iris/{UID}/v1/{MODEL_FILE}"] = (b"evil", {})
    v2 = settings(tmp_path, "v2", stable="v1")
    s3_store.fetch_inputs(v2, remote(store))
    with pytest.raises(BundleDigestMismatch):
        verify_bundle(v2.stable_dir, sha)


def test_a_missing_bucket_or_stable_is_a_data_error_naming_it(tmp_path):
    with pytest.raises(DataError, match="bucket models does not exist"):
        s3_store.fetch_inputs(settings(tmp_path, "v1"), remote(MemoryS3(buckets=())))
    with pytest.raises(DataError, match="stable model: no bundle at"):
        s3_store.fetch_inputs(settings(tmp_path, "v2", stable="v1"), remote(MemoryS3()))


def test_garbage_keeps_named_and_newest_revisions_and_never_touches_other_uids(tmp_path):
    store = MemoryS3()
    for uid, revision in [(UID, f"v{n}") for n in range(1, 8)] + [(OLD, "v1")]:
        store.objects["models", f"mp/ml/iris/{uid}/{revision}/{MODEL_FILE}"] = (b"m", {})
    env = {"MODELPILOT_KEEP_LAST": "2", "MODELPILOT_KEEP_REVISIONS": "v2"}
    removed = s3_store.prune(settings(tmp_path, "v8"), remote(store), env)
    assert removed == [f"s3://models/mp/ml/iris/{UID}/v{n}/" for n in (1, 3, 4, 5, 6)]
    left = sorted((k.split("/")[3], k.split("/")[4]) for _, k in store.objects)
    assert left == sorted([(OLD, "v1"), (UID, "v2"), (UID, "v7")])


def test_two_clusters_sharing_a_bucket_never_collect_each_others_bundles(tmp_path):
    # Issue 21 §7: two operators, one bucket and prefix, a ModelDeployment ml/iris on each.
    # On main each Job deleted the other cluster's uid prefix, live bundles and all.
    store = MemoryS3()
    first, second = UID, "22222222-2222-4222-8222-222222222222"
    for uid in (first, second):
        for n in (1, 2):
            store.objects["models", f"mp/ml/iris/{uid}/v{n}/{MODEL_FILE}"] = (b"m", {})
    for uid in (first, second):
        mine = dataclasses.replace(settings(tmp_path, "v3"), owner_uid=uid)
        assert s3_store.prune(mine, remote(store), {}) == []
    assert len(store.objects) == 4


def test_the_garbage_rule_is_the_pvcs():
    assert garbage_names(
        uids=[UID, OLD, "notes"],
        revisions=["v1", "v2", "v3", "x"],
        owner_uid=UID,
        revision="v4",
        keep_last=2,
        keep=["v1"],
    ) == ([OLD], ["v2"])
