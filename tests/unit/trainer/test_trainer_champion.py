"""Champion/challenger: the stable model is scored on the candidate's holdout, by hand too."""

from __future__ import annotations

import json

import pytest
from builders import LINEAR, spec_dict
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import accuracy_score, root_mean_squared_error
from sklearn.model_selection import train_test_split

from modelpilot.api.bundle import METADATA_FILE, load_bundle


def _spec(estimator: str, params: dict | None = None, **evaluation) -> dict:
    return {
        "training": {
            "dataset": {"builtin": "breast_cancer"},
            "estimator": estimator,
            "params": params or {},
        },
        "evaluation": {"metric": "accuracy", **evaluation},
    }


WEAK = ("sklearn.dummy.DummyClassifier", {"strategy": "most_frequent"})
STRONG = ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 20})


def _holdout(loader, stratify: bool, test_size: float = 0.25, seed: int = 0):
    x, y = loader(return_X_y=True, as_frame=True)
    _, x_test, _, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y if stratify else None
    )
    return x_test, y_test


def _with_stable(stable):
    return ("--stable-dir", str(stable.output), "--stable-sha256", stable.summary.model_sha256)


@pytest.mark.parametrize(
    ("stable_est", "candidate_est", "evaluation", "verdict"),
    [
        (WEAK, STRONG, {"threshold": 0.8}, "Passed"),
        (STRONG, WEAK, {}, "WorseThanStable"),
        (STRONG, WEAK, {"mustBeatStable": False}, "Passed"),
        (STRONG, WEAK, {"tolerance": 0.5}, "Passed"),
        (WEAK, STRONG, {"threshold": 0.999}, "BelowThreshold"),
    ],
    ids=[
        "candidate-wins",
        "candidate-loses",
        "no-need-to-beat-stable",
        "within-tolerance",
        "below-threshold",
    ],
)
def test_the_verdict_matches_hand_computed_scores(
    train, stable_est, candidate_est, evaluation, verdict
):
    stable = train(_spec(*stable_est), revision="v1")
    run = train(_spec(*candidate_est, **evaluation), *_with_stable(stable), revision="v2")
    assert run.code == 0, run.stderr  # the verdict never changes the exit code

    x_test, y_test = _holdout(load_breast_cancer, stratify=True)
    by_hand = {
        name: accuracy_score(
            y_test, load_bundle(r.output, r.summary.model_sha256).model.predict(x_test)
        )
        for name, r in (("stable", stable), ("candidate", run))
    }
    assert run.summary.stable_score == pytest.approx(by_hand["stable"], abs=1e-12)
    assert run.summary.candidate_score == pytest.approx(by_hand["candidate"], abs=1e-12)
    assert run.summary.verdict == verdict
    assert run.summary.holdout_sha256 == stable.summary.holdout_sha256
    assert f"verdict   {verdict}" in run.stdout and "stable    v1" in run.stdout


def test_lower_is_better_metrics_compare_the_right_way(train):
    def spec(params):
        return {
            "training": {
                "dataset": {"builtin": "diabetes"},
                "estimator": "sklearn.linear_model.Ridge",
                "params": params,
            },
            "evaluation": {"metric": "rmse"},
        }

    stable = train(spec({"alpha": 100.0}), revision="v1")
    run = train(spec({"alpha": 0.1}), *_with_stable(stable), revision="v2")
    x_test, y_test = _holdout(load_diabetes, stratify=False)
    rmse = {
        name: root_mean_squared_error(
            y_test, load_bundle(r.output, r.summary.model_sha256).model.predict(x_test)
        )
        for name, r in (("stable", stable), ("candidate", run))
    }
    assert run.summary.stable_score == pytest.approx(rmse["stable"])
    assert run.summary.candidate_score == pytest.approx(rmse["candidate"])
    expected = "Passed" if rmse["candidate"] <= rmse["stable"] else "WorseThanStable"
    assert rmse["candidate"] < rmse["stable"] and run.summary.verdict == expected


def test_the_same_seed_and_data_give_the_same_holdout_bit_for_bit(train, iris_spec):
    first, second = train(iris_spec()), train(iris_spec())
    other_seed = train(iris_spec(randomState=1))
    assert first.summary.holdout_sha256 == second.summary.holdout_sha256
    assert first.summary.model_sha256 == second.summary.model_sha256
    assert other_seed.summary.holdout_sha256 != first.summary.holdout_sha256


def test_a_stable_model_of_another_task_cannot_be_compared(train, iris_spec):
    regression = spec_dict(LINEAR, store=False, evaluation={"metric": "r2"})
    stable = train(regression, revision="v1")
    run = train(iris_spec(), *_with_stable(stable), revision="v2")
    assert run.code == 3 and "regression model and the candidate a classification" in run.stderr


def test_a_stable_model_from_other_library_versions_is_still_scored_and_flagged(train, iris_spec):
    stable = train(iris_spec(), revision="v1")
    meta = json.loads((stable.output / METADATA_FILE).read_text())
    meta["versions"]["numpy"] = "1.26.4"
    (stable.output / METADATA_FILE).write_text(json.dumps(meta))
    run = train(iris_spec(), *_with_stable(stable), revision="v2")
    assert run.code == 0, run.stderr
    assert run.summary.stable_score is not None
    assert "numpy trained 1.26.4" in run.summary.message


def test_a_wrong_stable_digest_fails_fast(train, iris_spec):
    stable = train(iris_spec(), revision="v1")
    run = train(
        iris_spec(), "--stable-dir", str(stable.output), "--stable-sha256", "0" * 64, revision="v2"
    )
    assert run.code == 3 and f"expected {'0' * 64}" in run.stderr
    assert run.summary.error.startswith("data error: stable model:")
