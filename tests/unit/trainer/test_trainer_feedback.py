"""spec.training.dataset.include [feedback]: labelled logged requests become training rows.

The logs are written by the serving pods' own writer (modelpilot.serving.prediction_log),
so these tests read exactly the files a pod leaves in the store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelpilot.api.bundle import read_metadata
from modelpilot.api.spec import Dataset
from modelpilot.serving.features import FeatureLayout
from modelpilot.serving.prediction_log import (
    LoggedLabel,
    LoggedRequest,
    labels_table,
    requests_table,
    write_parquet,
)
from modelpilot.trainer.datasets import load_dataset
from modelpilot.trainer.errors import DataError
from modelpilot.trainer.feedback_rows import append_feedback, read_feedback

CITIES = ("paris", "lyon", "nice")


def shop(rows: int, *, seed: int) -> pd.DataFrame:
    """age (float, gaps), visits (int), city (text, gaps); `bought` and `spend` targets."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, rows).round(1)
    visits = rng.integers(0, 20, rows)
    city = rng.choice(CITIES, rows).astype(object)
    effect = np.select([city == "paris", city == "lyon"], [6.0, -4.0], 0.0)
    score = 0.08 * (age - 40) + 0.3 * (visits - 10) + effect / 3
    frame = pd.DataFrame(
        {
            "age": age,
            "visits": visits,
            "city": city,
            "bought": np.where(score + rng.normal(0, 0.5, rows) > 0, "yes", "no"),
            "spend": 3.0 * visits + effect + 0.2 * age + rng.normal(0, 1.0, rows),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "city"] = np.nan
    return frame


LAYOUT = FeatureLayout(names=("age", "visits", "city"), kinds=("f", "i", "O"), max_rows=100)


def log_requests(
    directory: Path, frame: pd.DataFrame, *, revision: str, prefix: str, at: float
) -> list[str]:
    """One logged request per row, as a serving pod writes it; returns the request ids."""
    directory.mkdir(parents=True, exist_ok=True)
    ids = [f"{prefix}-{i}" for i in range(len(frame))]
    items = [
        LoggedRequest(
            request_id,
            at,
            np.array(
                [[row.age, row.visits, None if pd.isna(row.city) else row.city]], dtype=object
            ),
            np.array(["no"]),
        )
        for request_id, row in zip(ids, frame.itertuples(index=False), strict=True)
    ]
    write_parquet(
        requests_table(items, LAYOUT, revision), directory, f"requests-{int(at)}-pod-000001.parquet"
    )
    return ids


def log_labels(directory: Path, labels: dict[str, object], *, at: float) -> None:
    items = [LoggedLabel(request_id, 0, label, at) for request_id, label in labels.items()]
    write_parquet(labels_table(items), directory, f"labels-{int(at)}-pod-000002.parquet")


def test_labelled_rows_are_joined_by_request_id_and_deduplicated(tmp_path):
    logs = tmp_path / "predictions"
    frame = shop(30, seed=3)
    v1_ids = log_requests(logs / "v1", frame.iloc[:20], revision="v1", prefix="r", at=1000)
    # The same request ids logged again later (a client reusing its ids): the newest counts.
    log_requests(logs / "v2", frame.iloc[20:30], revision="v2", prefix="r", at=2000)
    log_labels(logs / "v1", {i: "no" for i in v1_ids[:15]}, at=1500)
    log_labels(logs / "v2", {v1_ids[0]: "yes"}, at=2500)  # relabelled: the newest label counts

    rows = read_feedback(logs, features=["age", "visits", "city"], target="bought")

    assert len(rows.features) == 15  # labelled (id, row) pairs, each once
    assert rows.note.startswith("feedback: 15 labelled rows appended (30 logged rows, 16 labels")
    by_id = dict(zip(sorted(v1_ids[:15]), range(15), strict=True))
    first = by_id["r-0"]
    assert rows.target.iloc[first] == "yes"
    # r-0..r-9 were logged twice: the v2 log (rows 20..29 of the frame) is what was kept.
    assert rows.features.iloc[first]["visits"] == frame.iloc[20]["visits"]


def test_a_categorical_dataset_with_gaps_trains_on_its_feedback_and_gives_a_new_model(
    train, tmp_path
):
    frame = shop(300, seed=0)
    csv = tmp_path / "shop.csv"
    frame.drop(columns="spend").to_csv(csv, index=False)
    spec = {
        "training": {
            "dataset": {"uri": f"file://{csv}", "target": "bought"},
            "estimator": "sklearn.linear_model.LogisticRegression",
            "preprocessing": [
                {"transformer": "SimpleImputer", "columns": ["age"]},
                {
                    "transformer": "OneHotEncoder",
                    "columns": ["city"],
                    "params": {"handle_unknown": "ignore"},
                },
            ],
        },
        "evaluation": {"metric": "accuracy", "mustBeatStable": False},
    }
    v1 = train(spec, revision="v1")
    assert v1.code == 0, v1.stderr

    # Live traffic, labelled the opposite of the truth: what v1 learnt no longer holds.
    logs = tmp_path / "predictions"
    live = shop(120, seed=1)
    ids = log_requests(logs / "v1", live, revision="v1", prefix="live", at=1000)
    flipped = {
        i: ("no" if truth == "yes" else "yes") for i, truth in zip(ids, live["bought"], strict=True)
    }
    log_labels(logs / "v1", flipped, at=1100)

    spec["training"]["dataset"]["include"] = ["feedback"]
    stable = ("--stable-dir", str(v1.output), "--stable-sha256", v1.summary.model_sha256)
    v2 = train(spec, *stable, "--feedback-dir", str(logs), revision="v2")
    assert v2.code == 0, v2.stderr
    assert "feedback: 120 labelled rows appended" in v2.stdout + v2.stderr
    assert v2.summary.training_data_sha256 != v1.summary.training_data_sha256
    assert v2.summary.model_sha256 != v1.summary.model_sha256
    # Split by content (the data changed): the holdout differs from v1's seeded one.
    assert v2.summary.holdout_sha256 != v1.summary.holdout_sha256
    assert (
        read_metadata(v2.output).evaluation.training_rows
        > read_metadata(v1.output).evaluation.training_rows
    )


def test_include_feedback_without_the_logs_names_the_setting(train, tmp_path):
    csv = tmp_path / "shop.csv"
    shop(100, seed=0).drop(columns="spend").to_csv(csv, index=False)
    spec = {
        "training": {
            "dataset": {"uri": f"file://{csv}", "target": "bought", "include": ["feedback"]},
            "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
            "preprocessing": [{"transformer": "OneHotEncoder", "columns": ["city"]}],
        },
        "evaluation": {"metric": "accuracy"},
    }
    run = train(spec, revision="v1")
    assert run.code != 0
    assert "--feedback-dir" in run.summary.error


def test_a_regression_appends_numeric_labels_in_the_datasets_dtypes(tmp_path):
    frame = shop(200, seed=4)
    parquet = tmp_path / "spend.parquet"
    frame.drop(columns="bought").to_parquet(parquet)
    data = load_dataset(Dataset(uri=str(parquet), target="spend"))
    logs = tmp_path / "predictions"
    live = shop(40, seed=5)
    ids = log_requests(logs / "v1", live, revision="v1", prefix="x", at=10)
    log_labels(
        logs / "v1", {i: float(v) for i, v in zip(ids, live["spend"] * 2, strict=True)}, at=20
    )

    rows = read_feedback(logs, features=list(data.features.columns), target="spend")
    grown = append_feedback(data, rows)

    assert len(grown.target) == len(data.target) + 40
    assert grown.features["visits"].dtype == data.features["visits"].dtype  # int again
    assert grown.target.dtype == np.float64
    assert grown.sha256 != data.sha256
    assert grown.target.iloc[len(data.target) :].sum() == pytest.approx((live["spend"] * 2).sum())
    # A missing city stays missing, and is not the text "None".
    appended = grown.features.iloc[len(data.target) :]
    assert appended["city"].isna().sum() == live["city"].isna().sum()


def test_a_missing_log_directory_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="prediction log directory"):
        read_feedback(tmp_path / "nope", features=["a"], target="y")


def test_the_loop_in_one_process_serve_label_wrong_judge_and_retrain(train, tmp_path):
    """The real server's logs and counters feed the operator's judgement and the trainer."""
    import asyncio

    import orjson
    from sklearn.datasets import load_iris

    from modelpilot.api.feedback import is_degraded, live_metric
    from modelpilot.operator.monitoring import parse_feedback
    from modelpilot.serving.service import InferenceService
    from modelpilot.serving.settings import Settings

    spec = {
        "training": {
            "dataset": {"builtin": "iris", "include": ["feedback"]},
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "params": {"n_estimators": 20, "random_state": 0},
        },
        "evaluation": {"metric": "accuracy", "threshold": 0.5, "mustBeatStable": False},
    }
    logs = tmp_path / "predictions"
    (logs / "v1").mkdir(parents=True)
    v1 = train(spec, "--feedback-dir", str(logs), revision="v1")
    assert v1.code == 0, v1.stderr
    assert "feedback: no labelled logged requests yet" in v1.stdout + v1.stderr

    settings = Settings(
        model_dir=str(v1.output),
        model_name="model",
        expected_sha256=v1.summary.model_sha256,
        prediction_log_dir=str(logs / "v1"),
        log_sample_rate=1.0,
    )
    rows = load_iris().data

    async def serve() -> bytes:
        service = InferenceService(settings)
        await service.start()
        labels = []
        for i in range(60):
            body = {
                "id": f"q{i}",
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": rows[i * 2].tolist()}
                ],
            }
            reply = await service.infer_v2(orjson.dumps(body))
            predicted = orjson.loads(reply.content)["outputs"][0]["data"][0]
            labels.append({"id": reply.request_id, "label": (predicted + 1) % 3})
        assert orjson.loads(service.feedback(orjson.dumps(labels))) == {"accepted": 60, "rows": 60}
        page = service.render_metrics()
        await service.stop()  # writes what the log holds
        return page

    page = asyncio.run(serve())
    stats = parse_feedback(page.decode(), model="model", version="v1")
    value = live_metric("accuracy", stats)
    assert stats.count == 60 and value == 0.0 and is_degraded("accuracy", value, 0.8)

    stable = ("--stable-dir", str(v1.output), "--stable-sha256", v1.summary.model_sha256)
    v2 = train(spec, *stable, "--feedback-dir", str(logs), revision="v2")
    assert v2.code == 0, v2.stderr
    assert (
        "feedback: 60 labelled rows appended (60 logged rows, 60 labels)" in v2.stdout + v2.stderr
    )
    assert v2.summary.model_sha256 != v1.summary.model_sha256
    assert v2.summary.training_data_sha256 != v1.summary.training_data_sha256
