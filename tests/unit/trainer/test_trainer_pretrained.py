"""spec.training.pretrained: a model trained elsewhere, verified before it is unpickled,
evaluated on the dataset's holdout like a trained revision, and written as an ordinary bundle.

Each model here is trained "elsewhere": in the test, on data of its own, then saved the way
a notebook would (joblib.dump, pickle.dump, an MLflow model directory).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelpilot.api import names
from modelpilot.api.bundle import load_bundle
from modelpilot.trainer.errors import EXIT_OK, EXIT_PRETRAINED


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def churn_frame(rows: int, seed: int) -> pd.DataFrame:
    """A numeric and a text column, both with gaps; the label depends on both."""
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(0, 60, rows)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    churned = np.where((tenure < 20) | (plan == "basic"), "yes", "no")
    frame = pd.DataFrame({"tenure": tenure, "plan": plan, "churned": churned})
    frame.loc[frame.index % 7 == 0, "tenure"] = np.nan
    frame.loc[frame.index % 11 == 0, "plan"] = None
    return frame


def churn_pipeline() -> Pipeline:
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["tenure"]),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                ["plan"],
            ),
        ]
    )
    return Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=1000))])


@pytest.fixture
def churn(tmp_path: Path) -> dict:
    """A fitted churn pipeline saved with joblib, and a CSV (with gaps) to evaluate it on."""
    notebook = churn_frame(300, seed=1)
    model = churn_pipeline().fit(notebook[["tenure", "plan"]], notebook["churned"])
    models = tmp_path / "store" / "pretrained"
    models.mkdir(parents=True)
    path = models / "churn.joblib"
    joblib.dump(model, path)
    data = tmp_path / "store" / "data" / "churn.csv"
    data.parent.mkdir(parents=True)
    churn_frame(200, seed=2).to_csv(data, index=False)
    return {"model": model, "path": path, "data": data}


def pretrained_spec(
    uri: Path | str,
    sha256: str,
    *,
    data: Path,
    target: str = "churned",
    metric: str = "accuracy",
    threshold: float = 0.7,
) -> dict:
    return {
        "training": {
            "dataset": {"uri": str(data), "target": target},
            "pretrained": {"uri": str(uri), "sha256": sha256},
        },
        "evaluation": {"metric": metric, "threshold": threshold},
    }


class Planted:
    """Unpickling this runs code: it writes `marker`. A digest check that came after the
    unpickling would leave the marker behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def plant(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Planted(marker)))
    return path


# --- the digest comes first -----------------------------------------------------------


def test_a_file_with_another_digest_is_never_unpickled(train, tmp_path, churn):
    marker = tmp_path / "marker"
    planted = plant(tmp_path / "store" / "pretrained" / "evil.joblib", marker)
    wrong = sha256_of(churn["path"])  # the digest of the file that should have been there

    run = train(pretrained_spec(planted, wrong, data=churn["data"]))

    assert run.code == EXIT_PRETRAINED
    assert not marker.exists(), "the planted pickle ran: it was unpickled before the check"
    assert not run.summary.ok
    assert f"has sha256 {sha256_of(planted)}" in run.summary.error
    assert f"spec.training.pretrained.sha256 is {wrong}" in run.summary.error
    assert "refusing to unpickle" in run.summary.error
    assert not (run.output / "model.joblib").exists()


def test_the_planted_pickle_does_run_code_when_its_digest_is_given(train, tmp_path, churn):
    """The control for the test above: the marker pickle really runs when unpickled, and
    what it gives is not a scikit-learn estimator, which is refused by name."""
    marker = tmp_path / "marker"
    planted = plant(tmp_path / "store" / "pretrained" / "evil.joblib", marker)

    run = train(pretrained_spec(planted, sha256_of(planted), data=churn["data"]))

    assert marker.exists()
    assert run.code == EXIT_PRETRAINED
    assert "holds a builtins.NoneType, not a scikit-learn estimator" in run.summary.error


def test_an_upper_case_digest_is_the_same_digest(train, churn):
    spec = pretrained_spec(churn["path"], sha256_of(churn["path"]).upper(), data=churn["data"])
    assert train(spec).code == EXIT_OK


# --- evaluated and bundled like a trained revision ------------------------------------


def test_a_pipeline_with_categories_and_gaps_is_evaluated_and_bundled(train, churn):
    digest = sha256_of(churn["path"])
    run = train(pretrained_spec(churn["path"], digest, data=churn["data"]))

    assert run.code == EXIT_OK, run.stderr
    s = run.summary
    assert s.ok and s.verdict == "Passed" and s.task == "classification"
    assert s.candidate_score >= 0.7 and {"accuracy", "f1_macro"} <= set(s.metrics)
    assert s.fit_seconds is None  # never refitted
    assert "evaluated, not refitted" in run.stdout

    # An ordinary bundle with its own digest, reported as any trained bundle's is.
    bundle = load_bundle(run.output, s.model_sha256)
    meta = bundle.metadata
    assert meta.pretrained is not None
    assert (meta.pretrained.sha256, meta.pretrained.form) == (digest, "joblib")
    assert meta.estimator == "sklearn.linear_model.LogisticRegression"
    assert meta.features.names == ["tenure", "plan"]
    assert meta.features.accepts_missing == [True, True]  # the imputers take gaps
    assert meta.classes == ["no", "yes"]
    assert meta.evaluation.training_rows == 0 and meta.evaluation.holdout_rows == 50

    rows = pd.read_csv(churn["data"])[["tenure", "plan"]].head(20)
    assert rows.isna().any().all()  # the rows compared have gaps in both columns
    expected = churn["model"].predict(rows)
    assert list(bundle.model.predict(rows)) == list(expected)


def test_the_models_column_order_wins_and_other_columns_are_ignored(train, tmp_path, churn):
    frame = pd.read_csv(churn["data"])
    frame.insert(0, "customer_id", range(len(frame)))
    data = tmp_path / "store" / "data" / "wide.csv"
    frame[["plan", "customer_id", "churned", "tenure"]].to_csv(data, index=False)

    run = train(pretrained_spec(churn["path"], sha256_of(churn["path"]), data=data))

    assert run.code == EXIT_OK, run.stderr
    assert load_bundle(run.output, run.summary.model_sha256).metadata.features.names == [
        "tenure",
        "plan",
    ]
    assert "does not take, ignored: customer_id" in run.stdout


def test_a_regressor_pickled_with_pickle_is_scored_on_parquet(train, tmp_path):
    rng = np.random.default_rng(0)

    def frame(rows: int) -> pd.DataFrame:
        x = rng.normal(size=(rows, 2))
        out = pd.DataFrame(x, columns=["size", "age"])
        out["price"] = 3 * out["size"] - out["age"] + rng.normal(scale=0.1, size=rows)
        out.loc[out.index % 9 == 0, "age"] = np.nan  # HistGradientBoosting takes gaps
        return out

    notebook = frame(400)
    model = HistGradientBoostingRegressor(random_state=0).fit(
        notebook[["size", "age"]], notebook["price"]
    )
    path = tmp_path / "store" / "pretrained" / "price.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps(model))
    data = tmp_path / "store" / "data" / "prices.parquet"
    data.parent.mkdir(parents=True)
    frame(200).to_parquet(data)

    run = train(
        pretrained_spec(
            path, sha256_of(path), data=data, target="price", metric="r2", threshold=0.8
        )
    )

    assert run.code == EXIT_OK, run.stderr
    assert run.summary.task == "regression" and run.summary.candidate_score > 0.8
    meta = load_bundle(run.output, run.summary.model_sha256).metadata
    assert meta.estimator == "sklearn.ensemble.HistGradientBoostingRegressor"
    assert meta.prediction_range is not None
    assert meta.features.accepts_missing == [True, True]


def test_it_is_compared_with_stable_on_the_same_holdout(train, churn):
    trained = train(
        {
            "training": {
                "dataset": {
                    "uri": str(churn["data"]),
                    "target": "churned",
                    "features": ["tenure"],
                },
                "estimator": "sklearn.dummy.DummyClassifier",
            },
            "evaluation": {"metric": "accuracy"},
        },
        revision="v1",
    )
    assert trained.code == EXIT_OK, trained.stderr

    run = train(
        pretrained_spec(churn["path"], sha256_of(churn["path"]), data=churn["data"]),
        "--stable-dir",
        str(trained.output),
        "--stable-sha256",
        trained.summary.model_sha256,
        revision="v2",
    )

    assert run.code == EXIT_OK, run.stderr
    s = run.summary
    assert s.stable_score is not None and s.candidate_score > s.stable_score
    assert "stable    v1, scored on the same holdout" in run.stdout
    assert s.verdict == "Passed"


# --- an MLflow scikit-learn model directory --------------------------------------------


def mlflow_dir(root: Path, model: object, *, sklearn_version: str | None = None) -> Path:
    """The layout mlflow.sklearn.save_model writes (MLmodel, model.pkl, environment files)."""
    root.mkdir(parents=True)
    (root / "model.pkl").write_bytes(pickle.dumps(model))
    version = sklearn_version or sklearn.__version__
    (root / "MLmodel").write_text(
        "artifact_path: model\n"
        "flavors:\n"
        "  python_function:\n"
        "    env: {conda: conda.yaml, virtualenv: python_env.yaml}\n"
        "    loader_module: mlflow.sklearn\n"
        "    model_path: model.pkl\n"
        "    predict_fn: predict\n"
        "    python_version: 3.11.9\n"
        "  sklearn:\n"
        "    code: null\n"
        "    pickled_model: model.pkl\n"
        "    serialization_format: cloudpickle\n"
        f"    sklearn_version: {version}\n"
        "mlflow_version: 2.16.0\n"
        "model_uuid: 0e4b3c1d9a3f4d0c8d6f2a1b5c7e9f00\n"
    )
    (root / "requirements.txt").write_text(f"scikit-learn=={version}\n")
    return root


def test_an_mlflow_model_directory_is_read_through_its_mlmodel(train, tmp_path, churn):
    root = mlflow_dir(tmp_path / "store" / "pretrained" / "churn-mlflow", churn["model"])
    digest = sha256_of(root / "model.pkl")

    run = train(pretrained_spec(root, digest, data=churn["data"]))

    assert run.code == EXIT_OK, run.stderr
    meta = load_bundle(run.output, run.summary.model_sha256).metadata
    assert meta.pretrained.form == "mlflow"
    assert meta.pretrained.uri == f"{root}/model.pkl"
    assert meta.pretrained.recorded_sklearn == sklearn.__version__


def test_an_mlflow_model_of_another_sklearn_is_refused_before_unpickling(train, tmp_path, churn):
    marker = tmp_path / "marker"
    root = mlflow_dir(
        tmp_path / "store" / "pretrained" / "old", Planted(marker), sklearn_version="0.24.2"
    )

    run = train(pretrained_spec(root, sha256_of(root / "model.pkl"), data=churn["data"]))

    assert run.code == EXIT_PRETRAINED
    assert not marker.exists()
    assert "saved with scikit-learn 0.24.2" in run.summary.error
    assert f"runs scikit-learn {sklearn.__version__}" in run.summary.error


def test_an_mlflow_model_without_the_sklearn_flavor_is_refused(train, tmp_path, churn):
    root = mlflow_dir(tmp_path / "store" / "pretrained" / "pyfunc", churn["model"])
    text = (root / "MLmodel").read_text()
    (root / "MLmodel").write_text(text[: text.index("  sklearn:")] + "mlflow_version: 2.16.0\n")

    run = train(pretrained_spec(root, sha256_of(root / "model.pkl"), data=churn["data"]))

    assert run.code == EXIT_PRETRAINED
    assert "has no sklearn flavor (flavors: python_function)" in run.summary.error


# --- refusals, each naming the problem --------------------------------------------------


def test_a_missing_file_is_named(train, tmp_path, churn):
    missing = tmp_path / "store" / "pretrained" / "nowhere.joblib"
    run = train(pretrained_spec(missing, "a" * 64, data=churn["data"]))
    assert run.code == EXIT_PRETRAINED
    assert run.summary.error == (
        f"pretrained model refused: {missing} does not exist: put the model file on the "
        "model-store claim at that path (or fix spec.training.pretrained.uri)"
    )


def test_a_directory_that_is_no_mlflow_model_is_named(train, tmp_path, churn):
    run = train(pretrained_spec(churn["path"].parent, "a" * 64, data=churn["data"]))
    assert run.code == EXIT_PRETRAINED
    assert "is a directory without an MLmodel file" in run.summary.error


def test_a_symlink_is_not_followed(train, tmp_path, churn):
    link = churn["path"].parent / "link.joblib"
    link.symlink_to(churn["path"])
    run = train(pretrained_spec(link, sha256_of(churn["path"]), data=churn["data"]))
    assert run.code == EXIT_PRETRAINED
    assert "is a symlink: refusing to follow it" in run.summary.error


def test_a_plain_pickle_of_another_sklearn_is_refused(train, tmp_path, churn):
    """scikit-learn records its version inside the pickle; rewrite it (same length, so the
    pickle stays valid) as a notebook with another release would have written it."""
    data = pickle.dumps(churn["model"])
    running = sklearn.__version__.encode()
    other = b"0" + running[1:] if not running.startswith(b"0") else b"9" + running[1:]
    path = tmp_path / "store" / "pretrained" / "other.pkl"
    path.write_bytes(data.replace(running, other))

    run = train(pretrained_spec(path, sha256_of(path), data=churn["data"]))

    assert run.code == EXIT_PRETRAINED
    assert f"pickled with scikit-learn {other.decode()}" in run.summary.error


@pytest.mark.parametrize(
    ("model", "message"),
    [
        pytest.param({"weights": [1, 2]}, "holds a builtins.dict, not a scikit-learn", id="dict"),
        pytest.param(StandardScaler(), "neither a classifier nor a regressor", id="transformer"),
        pytest.param(LogisticRegression(), "holds an unfitted", id="unfitted"),
    ],
)
def test_what_is_not_a_fitted_model_is_refused(train, tmp_path, churn, model, message):
    path = tmp_path / "store" / "pretrained" / "x.joblib"
    joblib.dump(model, path)
    run = train(pretrained_spec(path, sha256_of(path), data=churn["data"]))
    assert run.code == EXIT_PRETRAINED
    assert message in run.summary.error


def test_a_model_outside_the_allowlist_is_refused(train, tmp_path, churn):
    frame = churn_frame(100, seed=3).dropna()
    x = pd.get_dummies(frame[["tenure"]])
    path = tmp_path / "store" / "pretrained" / "lr.joblib"
    joblib.dump(LogisticRegression().fit(x, frame["churned"]), path)
    env = {names.ENV_ESTIMATOR_ALLOWLIST: "sklearn.tree.*"}

    run = train(pretrained_spec(path, sha256_of(path), data=churn["data"]), env=env)

    assert run.code == EXIT_PRETRAINED
    assert "contains sklearn.linear_model.LogisticRegression" in run.summary.error
    assert "allowlist does not allow (sklearn.tree.*)" in run.summary.error


def test_columns_the_model_needs_and_the_data_lacks_are_named(train, tmp_path, churn):
    data = tmp_path / "store" / "data" / "narrow.csv"
    pd.read_csv(churn["data"])[["tenure", "churned"]].to_csv(data, index=False)
    run = train(pretrained_spec(churn["path"], sha256_of(churn["path"]), data=data))
    assert run.code == EXIT_PRETRAINED
    assert "was fitted on column(s) 'plan', which the dataset does not have" in (run.summary.error)


def test_a_metric_of_the_other_task_is_refused_before_the_data_is_read(train, churn, tmp_path):
    spec = pretrained_spec(
        churn["path"], sha256_of(churn["path"]), data=tmp_path / "absent.csv", metric="r2"
    )
    run = train(spec)
    assert run.code == 2
    assert "'r2' is not a classification metric; the pretrained " in run.summary.error


def test_the_spec_refuses_params_with_a_pretrained_model(train, churn):
    spec = pretrained_spec(churn["path"], sha256_of(churn["path"]), data=churn["data"])
    spec["training"]["params"] = {"C": 2}
    run = train(json.dumps(spec))
    assert run.code == 2
    assert "spec.training.params applies to an estimator trained here" in run.summary.error


# --- in the S3 store ----------------------------------------------------------------------


@pytest.fixture
def bucket(monkeypatch):
    """The S3 store's bucket, in memory; the trainer reaches it with the store's access."""
    from s3_memory import MemoryS3

    from modelpilot.api import s3

    store = MemoryS3()
    monkeypatch.setattr(s3, "client", lambda endpoint: store)
    return store


S3_ENV = {"MODELPILOT_S3_BUCKET": "models", "MODELPILOT_S3_ENDPOINT": "http://s3.local:9000"}


def test_an_s3_object_is_verified_then_loaded(bucket, churn):
    from modelpilot.api.spec import Pretrained
    from modelpilot.trainer.errors import PretrainedError
    from modelpilot.trainer.pretrained import load_pretrained

    data = churn["path"].read_bytes()
    bucket.objects["models", "pretrained/churn.joblib"] = (data, {})
    digest = hashlib.sha256(data).hexdigest()
    uri = "s3://models/pretrained/churn.joblib"

    loaded = load_pretrained(
        Pretrained(uri=uri, sha256=digest), allowlist=("sklearn.*",), env=S3_ENV
    )
    assert loaded.form == "joblib" and loaded.source == uri and loaded.sha256 == digest
    with pytest.raises(PretrainedError, match=f"{uri} has sha256 {digest}, but"):
        load_pretrained(Pretrained(uri=uri, sha256="0" * 64), allowlist=("*",), env=S3_ENV)


def test_an_mlflow_prefix_in_s3_is_read_through_its_mlmodel(bucket, tmp_path, churn):
    from modelpilot.api.spec import Pretrained
    from modelpilot.trainer.errors import PretrainedError
    from modelpilot.trainer.pretrained import load_pretrained

    root = mlflow_dir(tmp_path / "mlflow", churn["model"])
    for name in ("MLmodel", "model.pkl"):
        bucket.objects["models", f"team/churn/{name}"] = ((root / name).read_bytes(), {})
    digest = sha256_of(root / "model.pkl")

    loaded = load_pretrained(
        Pretrained(uri="s3://models/team/churn/", sha256=digest), allowlist=("*",), env=S3_ENV
    )
    assert loaded.form == "mlflow" and loaded.source == "s3://models/team/churn/model.pkl"
    with pytest.raises(PretrainedError, match="neither an object nor an MLflow model directory"):
        load_pretrained(
            Pretrained(uri="s3://models/team/other", sha256=digest), allowlist=("*",), env=S3_ENV
        )
    with pytest.raises(PretrainedError, match="this trainer has no S3 access"):
        load_pretrained(
            Pretrained(uri="s3://models/team/churn", sha256=digest), allowlist=("*",), env={}
        )
