"""`modelpilot fetch-bundle`: a serving pod's init step with an S3 store downloads the bundle
and refuses, by the recorded digest, one that was tampered with — nothing is unpickled."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from api_samples import tiny_bundle
from s3_memory import MemoryS3

from modelpilot.api import s3
from modelpilot.api.bundle import MODEL_FILE, BundleDigestMismatch
from modelpilot.serving import fetch

ENV = {s3.ENV_S3_BUCKET: "models"}


def _uploaded(tmp_path: Path) -> tuple[MemoryS3, str]:
    bundle, sha = tiny_bundle(tmp_path)
    store = MemoryS3()
    s3.upload_bundle(
        store, bucket="models", key_prefix="ml/iris/u/v1/", bundle_dir=bundle, sha256=sha
    )
    return store, sha


def test_the_bundle_is_downloaded_and_its_digest_verified(tmp_path):
    store, sha = _uploaded(tmp_path)
    report = fetch.fetch(
        model_dir=tmp_path / "serve",
        key_prefix="ml/iris/u/v1/",
        expected_sha256=sha,
        env=ENV,
        client=store,
    )
    assert f"sha256 {sha} verified" in report
    assert (tmp_path / "serve" / MODEL_FILE).exists()


class RunsCode:
    def __reduce__(self):
        return (exit, ("unpickled",))


def test_a_tampered_model_is_refused_and_removed_before_anything_unpickles_it(tmp_path):
    store, sha = _uploaded(tmp_path)
    store.objects["models", "ml/iris/u/v1/" + MODEL_FILE] = (pickle.dumps(RunsCode()), {})
    with pytest.raises(BundleDigestMismatch, match=f"expected {sha}: refusing"):
        fetch.fetch(
            model_dir=tmp_path / "serve",
            key_prefix="ml/iris/u/v1/",
            expected_sha256=sha,
            env=ENV,
            client=store,
        )
    assert not (tmp_path / "serve" / MODEL_FILE).exists()


def test_a_failure_is_the_termination_message(tmp_path):
    log = tmp_path / "termination-log"
    code = fetch.main(
        ["--model-dir", str(tmp_path / "m"), "--key-prefix", "k/", "--expected-sha256", "a" * 64],
        env={"MODELPILOT_TERMINATION_LOG": str(log)},
    )
    assert code == 1
    assert "MODELPILOT_S3_BUCKET is not set" in log.read_text()


def test_fetch_bundle_verifies_a_large_model_without_holding_it_in_memory(tmp_path):
    # Issue 21 §7: verify_bundle read the whole model.joblib into memory, and fetch-bundle
    # runs under a 256Mi limit. Seen failing before the fix (peak = the file's size).
    import hashlib
    import json
    import tracemalloc

    from api_samples import tiny_bundle

    from modelpilot.api.bundle import METADATA_FILE, verify_bundle

    bundle, _ = tiny_bundle(tmp_path)
    size = 48 * 1024 * 1024
    with open(bundle / MODEL_FILE, "wb") as out:  # a large 'model', never unpickled here
        for _ in range(size // (1 << 20)):
            out.write(b"\0" * (1 << 20))
    digest = hashlib.sha256((bundle / MODEL_FILE).read_bytes()).hexdigest()
    meta = json.loads((bundle / METADATA_FILE).read_text())
    meta["model_sha256"] = digest
    (bundle / METADATA_FILE).write_text(json.dumps(meta))

    tracemalloc.start()
    try:
        assert verify_bundle(bundle, digest).model_sha256 == digest
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"verifying a {size}-byte model peaked at {peak} bytes"
