"""Issue 22 §3: fair comparisons with stable.

Stable is scored on the candidate's holdout, so that holdout must hold no row stable was
trained on. With a dataset that is not watched, a retrain on changed data (scheduled,
manual, drift) used the seeded split, whose holdout is a fresh draw of the new rows: rows
the previous revision trained on landed in it and flattered stable. Rows now go to the
holdout by content whenever the data's fingerprint differs from stable's, so a row keeps its
side from one revision to the next. And with `mustBeatStable: false`, a stable model that
cannot be scored on the candidate's data (another task, a dropped feature) no longer fails
the run.
"""

from __future__ import annotations

import pandas as pd
import pytest
from builders import LINEAR, spec_dict
from sklearn.datasets import load_breast_cancer

from modelpilot.api.bundle import read_metadata
from modelpilot.api.metrics import Task
from modelpilot.api.spec import Dataset
from modelpilot.trainer.datasets import load_dataset
from modelpilot.trainer.splitting import fair_split, split


def _rows(frame: pd.DataFrame) -> set[tuple]:
    return set(frame.itertuples(index=False, name=None))


def _spec(csv, **evaluation) -> dict:
    return {
        "training": {
            "dataset": {"uri": f"file://{csv}", "target": "target"},
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 5000},
        },
        "evaluation": {"metric": "accuracy", **evaluation},
    }


def _stable(run) -> tuple[str, ...]:
    return ("--stable-dir", str(run.output), "--stable-sha256", run.summary.model_sha256)


@pytest.fixture
def growing(tmp_path):
    """Three versions of one CSV, each with more rows than the last."""
    frame = load_breast_cancer(as_frame=True).frame.sample(frac=1.0, random_state=1)
    paths = []
    for i, rows in enumerate((300, 420, 569)):
        path = tmp_path / f"data-{i}.csv"
        frame.iloc[:rows].to_csv(path, index=False)
        paths.append(path)
    return paths


def test_a_retrain_on_changed_data_never_holds_out_rows_stable_trained_on(train, growing):
    v1 = train(_spec(growing[0]), revision="v1")
    v2 = train(_spec(growing[1]), *_stable(v1), revision="v2")
    v3 = train(_spec(growing[2]), *_stable(v2), revision="v3")
    assert v1.code == v2.code == v3.code == 0, v3.stderr

    data = [load_dataset(Dataset(uri=f"file://{p}", target="target")) for p in growing]
    kw = {"task": Task.CLASSIFICATION, "test_size": 0.25, "random_state": 0, "watched": False}
    v2_split = fair_split(data[1], stable=read_metadata(v1.output), **kw)
    v3_split = fair_split(data[2], stable=read_metadata(v2.output), **kw)
    # The trainer used exactly these splits ...
    assert v2.summary.holdout_sha256 == v2_split.holdout_sha256
    assert v3.summary.holdout_sha256 == v3_split.holdout_sha256
    # ... and v3's holdout, on which stable v2 was scored, holds none of v2's training rows.
    v2_trained = _rows(pd.concat([v2_split.x_train, v2_split.y_train], axis=1))
    v3_held = _rows(pd.concat([v3_split.x_holdout, v3_split.y_holdout], axis=1))
    assert v2_trained and v3_held and not v2_trained & v3_held
    # What main did (the seeded split of the changed data): dozens of them.
    seeded = [split(d, task=Task.CLASSIFICATION, test_size=0.25, random_state=0) for d in data[1:]]
    leaked = _rows(pd.concat([seeded[0].x_train, seeded[0].y_train], axis=1)) & _rows(
        pd.concat([seeded[1].x_holdout, seeded[1].y_holdout], axis=1)
    )
    assert len(leaked) > 20


def test_a_retrain_on_the_same_data_keeps_stables_seeded_holdout(train, growing):
    v1 = train(_spec(growing[0]), revision="v1")
    v2 = train(_spec(growing[0]), *_stable(v1), revision="v2")
    assert v2.summary.holdout_sha256 == v1.summary.holdout_sha256
    assert v2.summary.stable_score == v2.summary.candidate_score  # the same model, same rows


@pytest.mark.parametrize("must_beat", [False, True], ids=["not-required", "required"])
def test_a_stable_model_of_another_task_fails_the_run_only_when_it_must_be_beaten(
    train, iris_spec, must_beat
):
    regression = spec_dict(LINEAR, store=False, evaluation={"metric": "r2"})
    stable = train(regression, revision="v1")
    spec = iris_spec()
    spec["evaluation"]["mustBeatStable"] = must_beat
    run = train(spec, *_stable(stable), revision="v2")
    if must_beat:
        assert run.code == 3 and "regression model and the candidate a classification" in (
            run.stderr
        )
        return
    assert run.code == 0, run.stderr
    assert run.summary.verdict == "Passed" and run.summary.stable_score is None
    assert "stable not compared" in run.summary.message


def test_a_dropped_feature_does_not_fail_a_run_that_need_not_beat_stable(train, tmp_path):
    frame = load_breast_cancer(as_frame=True).frame
    full, fewer = tmp_path / "full.csv", tmp_path / "fewer.csv"
    frame.to_csv(full, index=False)
    frame.drop(columns="mean radius").to_csv(fewer, index=False)
    stable = train(_spec(full), revision="v1")
    run = train(_spec(fewer, mustBeatStable=False), *_stable(stable), revision="v2")
    assert run.code == 0, run.stderr
    assert run.summary.stable_score is None and "'mean radius'" in run.summary.message
    strict = train(_spec(fewer), *_stable(stable), revision="v3")
    assert strict.code == 3 and "'mean radius'" in strict.stderr
