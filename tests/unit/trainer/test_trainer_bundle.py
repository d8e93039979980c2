"""The bundle the trainer writes: round trip, trust (digest before unpickling), skew, retries."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from modelpilot.api.bundle import (
    METADATA_FILE,
    MODEL_FILE,
    BundleDigestMismatch,
    BundleExists,
    BundleVersionSkew,
    load_bundle,
    running_versions,
    sha256_file,
    write_bundle,
)
from modelpilot.api.metrics import metrics_for


class CreatesMarkerWhenUnpickled:
    """A stand-in for a malicious model: unpickling it creates a file (it could run anything)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_the_bundle_round_trips_with_complete_metadata(train, iris_spec):
    run = train(iris_spec(), revision="v4")
    assert run.code == 0, run.stderr
    bundle = load_bundle(run.output, run.summary.model_sha256)
    meta = bundle.metadata
    assert (meta.namespace, meta.name, meta.revision) == ("ml", "model", "v4")
    assert meta.created_at.endswith("Z") and meta.task == "classification"
    assert meta.estimator == "sklearn.linear_model.LogisticRegression"
    assert meta.params["max_iter"] == 1000 and "C" in meta.params
    assert meta.features.count == 4 and meta.features.dtypes == ["float64"] * 4
    assert meta.classes == [0, 1, 2]
    assert set(meta.metrics) == set(metrics_for("classification"))
    assert meta.versions == running_versions()
    assert meta.model_sha256 == sha256_file(run.output / MODEL_FILE) == run.summary.model_sha256
    assert len(meta.training_data_sha256) == len(meta.holdout_sha256) == 64
    assert meta.evaluation.verdict == run.summary.verdict
    rows = np.array([[5.1, 3.5, 1.4, 0.2]])
    import pandas as pd

    frame = pd.DataFrame(rows, columns=meta.features.names)
    assert bundle.model.predict(frame).tolist() == [0]


def test_a_regression_bundle_records_the_prediction_range(train):
    spec = {
        "training": {"dataset": {"builtin": "diabetes"}, "estimator": "sklearn.linear_model.Ridge"},
        "evaluation": {"metric": "rmse"},
    }
    run = train(spec)
    bundle = load_bundle(run.output, run.summary.model_sha256)
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    _, x_test, _, _ = train_test_split(x, y, test_size=0.25, random_state=0)
    predicted = bundle.model.predict(x_test)
    assert bundle.metadata.prediction_range == (predicted.min(), predicted.max())
    assert bundle.metadata.classes is None


def test_a_tampered_model_is_refused_before_it_is_unpickled(train, iris_spec, tmp_path):
    run = train(iris_spec())
    trusted = run.summary.model_sha256
    marker = tmp_path / "pwned"
    joblib.dump(CreatesMarkerWhenUnpickled(marker), run.output / MODEL_FILE)
    # The attacker may rewrite metadata.json too; the operator's digest is the anchor.
    meta = json.loads((run.output / METADATA_FILE).read_text())
    meta["model_sha256"] = sha256_file(run.output / MODEL_FILE)
    (run.output / METADATA_FILE).write_text(json.dumps(meta))

    with pytest.raises(BundleDigestMismatch, match="refusing to load"):
        load_bundle(run.output, trusted)
    assert not marker.exists()

    # Control: the payload is live — loading it without the check does create the marker.
    joblib.load(run.output / MODEL_FILE)
    assert marker.exists()


def test_a_tampered_stable_model_fails_training_without_unpickling_it(train, iris_spec, tmp_path):
    stable = train(iris_spec(), revision="v1")
    marker = tmp_path / "pwned-by-stable"
    joblib.dump(CreatesMarkerWhenUnpickled(marker), stable.output / MODEL_FILE)

    run = train(
        iris_spec(),
        "--stable-dir",
        str(stable.output),
        "--stable-sha256",
        stable.summary.model_sha256,
        revision="v2",
    )
    assert run.code == 3, run.stderr
    assert "stable model:" in run.stderr and "refusing to load" in run.stderr
    assert not marker.exists() and not run.output.exists()


def test_a_version_mismatch_is_refused_naming_both_versions(train, iris_spec):
    run = train(iris_spec())
    meta = json.loads((run.output / METADATA_FILE).read_text())
    meta["versions"]["sklearn"] = "0.24.2"
    (run.output / METADATA_FILE).write_text(json.dumps(meta))
    running = running_versions().sklearn
    with pytest.raises(BundleVersionSkew, match=f"sklearn trained 0.24.2, running {running}"):
        load_bundle(run.output, run.summary.model_sha256)
    loaded = load_bundle(run.output, run.summary.model_sha256, allow_version_skew=True)
    assert loaded.metadata.versions.sklearn == "0.24.2"


def test_an_output_holding_another_revision_is_never_overwritten(train, iris_spec, tmp_path):
    output = tmp_path / "store" / "ml" / "model" / "v7"
    train(iris_spec(), output=output)
    run = train(iris_spec(), "--revision", "v8", output=output)
    assert run.code == 3 and "is not empty" in run.stderr and "never adopted" in run.stderr


def test_an_empty_output_dir_is_written_into_as_a_volume_mount_is(train, iris_spec, tmp_path):
    # The training pod's revision directory is a volume mount: it exists, and cannot be
    # replaced by a rename. A killed attempt's staging directory in it is cleared.
    output = tmp_path / "mounted" / "v1"
    (output / ".staging-killed").mkdir(parents=True)
    (output / ".staging-killed" / MODEL_FILE).write_bytes(b"half a model")
    run = train(iris_spec(), output=output, revision="v1")
    assert run.code == 0, run.stderr
    assert sorted(p.name for p in output.iterdir()) == [METADATA_FILE, MODEL_FILE]
    assert load_bundle(output, run.summary.model_sha256).metadata.revision == "v1"


def test_a_failed_write_leaves_nothing_behind(train, iris_spec, tmp_path):
    run = train(iris_spec())
    meta = load_bundle(run.output, run.summary.model_sha256).metadata
    target = tmp_path / "store2" / "ml" / "model" / "v1"
    with pytest.raises(Exception, match=r"ocal object|lambda|pickle"):
        write_bundle(lambda: None, meta, target)
    assert list(target.iterdir()) == []


def test_write_bundle_never_overwrites_a_complete_bundle(train, iris_spec, tmp_path):
    run = train(iris_spec())
    meta = load_bundle(run.output, run.summary.model_sha256).metadata
    before = (run.output / MODEL_FILE).read_bytes()
    with pytest.raises(BundleExists):
        write_bundle({"another": "model"}, meta, run.output)
    assert (run.output / MODEL_FILE).read_bytes() == before
