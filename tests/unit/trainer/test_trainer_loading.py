"""Hash what you load: model.joblib is opened once, and the bytes hashed are the bytes
unpickled. A file swapped after the check is never read again, so its code never runs.

Both readers are covered: the server's `SklearnModel.load` and the trainer's stable-model
scoring (`champion.score_stable`); both go through `modelpilot.api.bundle.load_bundle`,
whose `after_verify` seam runs between the digest check and the unpickling.
"""

from __future__ import annotations

import os
from pathlib import Path

import joblib
import pytest
from sklearn.datasets import load_iris

from modelpilot.api.bundle import MODEL_FILE, BundleInvalid, load_bundle, verify_bundle
from modelpilot.api.metrics import Task
from modelpilot.serving.errors import ModelLoadError
from modelpilot.serving.model import SklearnModel
from modelpilot.trainer.champion import score_stable
from modelpilot.trainer.splitting import Split


class CreatesMarkerWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def swapper(bundle_dir: Path, marker: Path, how: str):
    """A callable that puts a malicious model.joblib in place: by rename (a new inode, as
    an attacker with write access to the directory would) or by rewriting the same file."""
    evil = bundle_dir.parent / f"evil-{how}.joblib"
    joblib.dump(CreatesMarkerWhenUnpickled(marker), evil)
    assert not marker.exists()

    def swap() -> None:
        if how == "rename":
            os.replace(evil, bundle_dir / MODEL_FILE)
        else:
            (bundle_dir / MODEL_FILE).write_bytes(evil.read_bytes())

    return swap


@pytest.fixture
def bundle(train, iris_spec, tmp_path):
    run = train(iris_spec(), revision="v1", output=tmp_path / "store" / "ml" / "iris" / "v1")
    assert run.code == 0, run.stderr
    return run


@pytest.mark.parametrize("how", ["rename", "rewrite"])
def test_load_bundle_unpickles_the_bytes_it_checked(bundle, tmp_path, how):
    marker = tmp_path / f"pwned-{how}"
    loaded = load_bundle(
        bundle.output, bundle.summary.model_sha256, after_verify=swapper(bundle.output, marker, how)
    )
    assert not marker.exists()
    assert hasattr(loaded.model, "predict_proba")  # the trusted model, not the payload
    # Control: the swapped file is live — it runs when loaded without a check.
    joblib.load(bundle.output / MODEL_FILE)
    assert marker.exists()


@pytest.mark.parametrize("how", ["rename", "rewrite"])
def test_the_server_never_runs_a_model_swapped_after_the_check(bundle, tmp_path, how):
    marker = tmp_path / f"server-pwned-{how}"
    model = SklearnModel(
        name="iris",
        model_dir=str(bundle.output),
        expected_sha256=bundle.summary.model_sha256,
        after_verify=swapper(bundle.output, marker, how),
    )
    model.load()
    assert model.ready and not marker.exists()


@pytest.mark.parametrize("how", ["rename", "rewrite"])
def test_stable_scoring_never_runs_a_model_swapped_after_the_check(bundle, tmp_path, how):
    marker = tmp_path / f"stable-pwned-{how}"
    x, y = load_iris(return_X_y=True, as_frame=True)
    holdout = Split(x, x, y, y, "0" * 64)
    result = score_stable(
        bundle.output,
        bundle.summary.model_sha256,
        holdout,
        task=Task.CLASSIFICATION,
        after_verify=swapper(bundle.output, marker, how),
    )
    assert not marker.exists()
    assert result.scores.metrics["accuracy"] > 0.9


def test_a_symlinked_model_file_is_refused(bundle, tmp_path):
    real = tmp_path / "elsewhere.joblib"
    os.replace(bundle.output / MODEL_FILE, real)
    os.symlink(real, bundle.output / MODEL_FILE)
    sha = bundle.summary.model_sha256
    with pytest.raises(BundleInvalid, match="symlink"):
        load_bundle(bundle.output, sha)
    with pytest.raises(BundleInvalid, match="symlink"):
        verify_bundle(bundle.output, sha)
    model = SklearnModel(name="iris", model_dir=str(bundle.output), expected_sha256=sha)
    with pytest.raises(ModelLoadError, match="symlink"):
        model.load()
