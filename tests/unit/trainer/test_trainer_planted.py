"""Issue 21 §1: a bundle that lies at a revision's place before its Job trains is never
adopted, read or unpickled; the run trains, replaces it and reports its own digest.

On main the trainer re-reported such a bundle as "an earlier attempt of this revision" (its
recorded scores passed the gate, and the serving pod unpickled it). Each test below failed
there: the run exited 0 re-reporting the planted digest.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pytest
from s3_memory import MemoryS3

from modelpilot.api import s3
from modelpilot.api.bundle import METADATA_FILE, MODEL_FILE, load_bundle, sha256_file
from modelpilot.trainer import s3_store
from modelpilot.trainer.settings import Settings

UID = "0b6f3c1e-1111-4222-8333-944455556666"


class CreatesMarkerWhenUnpickled:
    """A planted model: unpickling it creates a file (it could run anything)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _bound(revision: str = "v2") -> tuple[str, ...]:
    return (
        "--owner-uid",
        UID,
        "--spec-hash",
        "hash-a",
        "--name",
        "iris",
        "--namespace",
        "ml",
        "--revision",
        revision,
    )


def plant(bundle_dir: Path, marker: Path, *, copy_of: Path, revision: str = "v2") -> str:
    """A complete bundle copying a real one's binding, with a flattering evaluation record
    and a model whose unpickling creates `marker`; returns its (self-consistent) digest."""
    meta = json.loads((copy_of / METADATA_FILE).read_text())
    bundle_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(CreatesMarkerWhenUnpickled(marker), bundle_dir / MODEL_FILE)
    digest = sha256_file(bundle_dir / MODEL_FILE)
    meta.update(revision=revision, model_sha256=digest)
    meta["evaluation"]["candidate_score"] = 1.0
    (bundle_dir / METADATA_FILE).write_text(json.dumps(meta))
    return digest


def test_a_planted_bundle_is_replaced_unread_by_the_runs_own(train, iris_spec, tmp_path):
    store = tmp_path / "store" / "ml" / "iris" / UID
    v1 = train(iris_spec(), *_bound("v1"), output=store / "v1")
    assert v1.code == 0, v1.stderr
    marker = tmp_path / "planted-code-ran"
    planted = plant(store / "v2", marker, copy_of=store / "v1")
    (store / "v2" / "extra").mkdir()  # and whatever else lay there

    run = train(iris_spec(), *_bound("v2"), output=store / "v2")

    assert run.code == 0, run.stderr
    assert "re-reporting" not in run.stdout and "never adopted" in run.stdout
    assert run.summary.model_sha256 != planted
    assert run.summary.model_sha256 == sha256_file(store / "v2" / MODEL_FILE)
    assert sorted(p.name for p in (store / "v2").iterdir()) == [METADATA_FILE, MODEL_FILE]
    assert run.summary.candidate_score == v1.summary.candidate_score  # measured, not recorded
    assert not marker.exists()
    assert load_bundle(store / "v2", run.summary.model_sha256).metadata.revision == "v2"
    assert not marker.exists()


def test_a_retried_pod_trains_again_instead_of_re_reporting(train, iris_spec, tmp_path):
    # The operator recorded no report from the first attempt (killed after writing), so
    # nothing proves its bundle is this Job's: the retry writes and reports its own.
    output = tmp_path / "store" / "ml" / "iris" / UID / "v1"
    first = train(iris_spec(), *_bound("v1"), output=output)
    written = (output / MODEL_FILE).stat().st_mtime_ns
    again = train(iris_spec(), *_bound("v1"), output=output)
    assert again.code == 0, again.stderr
    assert "re-reporting" not in again.stdout
    assert (output / MODEL_FILE).stat().st_mtime_ns != written
    assert again.summary.model_sha256 == sha256_file(output / MODEL_FILE)
    assert again.summary.metrics == first.summary.metrics


def test_run_by_hand_an_output_that_is_not_empty_is_refused_untouched(train, iris_spec, tmp_path):
    output = tmp_path / "mine" / "v1"
    first = train(iris_spec(), output=output, revision="v1")
    again = train(iris_spec(), output=output, revision="v1")
    assert again.code == 3 and "not empty" in again.stderr and "never adopted" in again.stderr
    assert sha256_file(output / MODEL_FILE) == first.summary.model_sha256


def _settings(tmp_path: Path, revision: str) -> Settings:
    return Settings(
        output=tmp_path / "local" / "ml" / "iris" / UID / revision,
        spec_path=None,
        spec_json="{}",
        stable_dir=None,
        stable_sha256=None,
        termination_log=None,
        name="iris",
        namespace="ml",
        revision=revision,
        allowlist=("*",),
        owner_uid=UID,
    )


def test_s3_a_planted_bundle_is_never_downloaded_and_is_replaced(train, iris_spec, tmp_path):
    real = train(iris_spec(), *_bound("v1"), output=tmp_path / "made" / "v1")
    marker = tmp_path / "planted-code-ran"
    planted_dir = tmp_path / "planted" / "v2"
    planted = plant(planted_dir, marker, copy_of=real.output)
    bucket = MemoryS3()
    key = f"mp/ml/iris/{UID}/v2/"
    s3.upload_bundle(
        bucket, bucket="models", key_prefix=key, bundle_dir=planted_dir, sha256=planted
    )
    bucket.objects["models", key + "extra"] = (b"left by someone", {})
    remote = s3_store.RemoteStore(location=s3.StoreLocation("models", "mp"), client=bucket)
    v2 = _settings(tmp_path, "v2")

    s3_store.fetch_inputs(v2, remote)
    assert not v2.output.exists()  # nothing of the revision's own key came down

    v2.output.mkdir(parents=True)  # the run's own bundle (here: v1's files) goes up
    for name in (MODEL_FILE, METADATA_FILE):
        (v2.output / name).write_bytes((real.output / name).read_bytes())
    s3_store.publish(v2, remote, real.summary.model_sha256)
    assert bucket.objects["models", key + MODEL_FILE] == (
        (real.output / MODEL_FILE).read_bytes(),
        {"sha256": real.summary.model_sha256},
    )
    assert ("models", key + "extra") not in bucket.objects
    s3_store.publish(v2, remote, real.summary.model_sha256)  # a retry replaces it again
    assert not marker.exists()


@pytest.mark.parametrize("entry", ["file", "symlink", "directory"])
def test_whatever_lies_in_the_revision_directory_is_removed_not_followed(entry, tmp_path):
    from modelpilot.trainer.untrusted import discard_untrusted

    output, outside = tmp_path / UID / "v1", tmp_path / "outside"
    output.mkdir(parents=True)
    outside.mkdir()
    (outside / "keep.txt").write_text("not the store's")
    if entry == "file":
        (output / MODEL_FILE).write_bytes(b"x")
    elif entry == "symlink":
        (output / MODEL_FILE).symlink_to(outside)
    else:
        (output / MODEL_FILE).mkdir()
        (output / MODEL_FILE / "deep").write_text("x")
    assert discard_untrusted(output, owner_uid=UID) == [MODEL_FILE]
    assert list(output.iterdir()) == []
    assert (outside / "keep.txt").read_text() == "not the store's"
