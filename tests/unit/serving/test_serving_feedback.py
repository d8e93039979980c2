"""Request ids, sampled prediction logs in Parquet, and labels fed back by request id."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import running

from modelpilot.api import serving_metrics as names
from modelpilot.serving import request_ids
from modelpilot.serving.errors import (
    InvalidLabel,
    LabelConflict,
    MalformedRequest,
    UnknownRequestId,
)
from modelpilot.serving.features import FeatureLayout
from modelpilot.serving.feedback import FeedbackItem, RecentPredictions, parse_feedback
from modelpilot.serving.prediction_log import (
    LoggedLabel,
    LoggedRequest,
    PredictionLog,
    requests_table,
    write_parquet,
)

# -- request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "body_id", "expected"),
    [
        pytest.param(b"from-header", None, "from-header", id="header-when-no-body-id"),
        pytest.param(b"from-header", "from-body", "from-body", id="oip-id-wins"),
        pytest.param(None, "from-body", "from-body", id="oip-id-alone"),
    ],
)
def test_request_id_comes_from_the_oip_id_then_the_header(header, body_id, expected):
    assert request_ids.choose(header, body_id) == expected


def test_a_request_id_is_generated_when_absent_and_never_repeats():
    ids = {request_ids.choose(None, None) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 for i in ids)


@pytest.mark.parametrize(
    "bad", ["", "x" * 129, "caf\u00e9", "a\nb"], ids=["empty", "long", "non-ascii", "newline"]
)
def test_an_unusable_request_id_is_refused_naming_it(bad):
    with pytest.raises(MalformedRequest, match="request id"):
        request_ids.choose(None, bad)


def test_sampling_is_deterministic_by_request_id_and_close_to_the_rate():
    ids = [f"req-{i}" for i in range(20_000)]
    first = [request_ids.sampled(i, 0.1) for i in ids]
    assert first == [request_ids.sampled(i, 0.1) for i in ids]  # same id, same answer
    assert 0.09 < sum(first) / len(ids) < 0.11
    assert all(request_ids.sampled(i, 1.0) for i in ids[:100])
    assert not any(request_ids.sampled(i, 0.0) for i in ids[:100])
    # A higher rate logs a superset: raising the rate never un-logs a request.
    assert all(request_ids.sampled(i, 0.3) for i, s in zip(ids, first, strict=True) if s)


# -- the bounded buffer and the Parquet writer ----------------------------------------------

LAYOUT = FeatureLayout(names=("age", "city"), kinds=("f", "O"), max_rows=100)


def _request(request_id: str, rows: int = 1) -> LoggedRequest:
    features = np.array([[40.0 + i, "paris"] for i in range(rows)], dtype=object)
    return LoggedRequest(request_id, 1_700_000_000.0, features, np.array(["yes"] * rows))


def test_a_full_buffer_drops_and_counts_and_never_waits(tmp_path):
    log = PredictionLog(
        directory=tmp_path,
        layout=LAYOUT,
        revision="v1",
        pod="p",
        max_buffered_rows=5,
        flush_seconds=60,
    )
    # The writer is busy (holds nothing of ours): offers still return at once.
    start = time.perf_counter()
    accepted = [log.offer(_request(f"r{i}", rows=2)) for i in range(4)]
    assert time.perf_counter() - start < 0.05
    assert accepted == [True, True, False, False]  # 4 rows buffered; 2 more would pass 5
    assert log.dropped_rows == 4
    assert log.buffered_rows == 4
    assert log.flush() == 4
    assert log.buffered_rows == 0
    assert log.offer(_request("r9", rows=2))  # room again once written


def test_offers_from_many_threads_while_writing_lose_nothing_but_what_is_counted(tmp_path):
    log = PredictionLog(
        directory=tmp_path,
        layout=LAYOUT,
        revision="v1",
        pod="p",
        max_buffered_rows=50,
        flush_seconds=0.01,
    )
    log.start()

    def offer_many(worker: int) -> None:
        for i in range(200):
            log.offer(_request(f"w{worker}-{i}"))

    threads = [threading.Thread(target=offer_many, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.stop()
    frames = [pd.read_parquet(p) for p in sorted(tmp_path.glob("requests-*.parquet"))]
    written = sum(len(f) for f in frames)
    assert written == log.written_rows
    assert written + log.dropped_rows == 800
    assert not list(tmp_path.glob(".*"))  # no partial file left behind


def test_categorical_and_missing_values_round_trip_through_parquet(tmp_path):
    features = np.array([[31.5, "paris"], [np.nan, None], [52.0, "nice"]], dtype=object)
    table = requests_table(
        [LoggedRequest("abc", 1_700_000_000.5, features, np.array(["yes", "no", "yes"]))],
        LAYOUT,
        "v2",
    )
    path = write_parquet(table, tmp_path, "requests-1-p-000001.parquet")
    back = pd.read_parquet(path)
    assert back["_request_id"].tolist() == ["abc"] * 3
    assert back["_row"].tolist() == [0, 1, 2]
    assert back["_revision"].tolist() == ["v2"] * 3
    assert back["_prediction"].tolist() == ["yes", "no", "yes"]
    assert back["age"].dtype == np.float64
    assert back["age"].iloc[0] == 31.5 and np.isnan(back["age"].iloc[1])
    assert back["city"].iloc[0] == "paris" and pd.isna(back["city"].iloc[1])
    assert str(back["_logged_at"].iloc[0]) == "2023-11-14 22:13:20.500000+00:00"


def test_a_write_that_fails_is_counted_and_serving_goes_on(tmp_path):
    missing = tmp_path / "not-there"
    log = PredictionLog(
        directory=missing,
        layout=LAYOUT,
        revision="v1",
        pod="p",
        max_buffered_rows=10,
        flush_seconds=60,
    )
    assert log.offer(_request("a", rows=3))
    assert log.offer_labels([LoggedLabel("a", 0, "no", 1.0)])
    assert log.flush() == 0
    assert log.write_errors == 2
    assert log.dropped_rows == 4


# -- feedback: parsing and the join --------------------------------------------------------


def test_feedback_labels_are_checked_against_the_models_classes():
    items = parse_feedback(
        b'[{"id": "a", "label": 1}, {"id": "b", "label": [0, 2]}]',
        task="classification",
        classes=[0, 1, 2],
    )
    assert items == [FeedbackItem("a", (1,)), FeedbackItem("b", (0, 2))]
    with pytest.raises(InvalidLabel, match=r"feedback\[1\]: label 7 is not a class") as caught:
        parse_feedback(
            b'[{"id": "a", "label": 1}, {"id": "b", "label": 7}]',
            task="classification",
            classes=[0, 1, 2],
        )
    assert caught.value.index == 1 and caught.value.status_code == 422
    with pytest.raises(InvalidLabel, match="not a class"):  # true is not the class 1
        parse_feedback(b'[{"id": "a", "label": true}]', task="classification", classes=[0, 1])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        pytest.param(b"{}", "non-empty JSON list", id="not-a-list"),
        pytest.param(b"[]", "non-empty JSON list", id="empty"),
        pytest.param(b"nope", "must be JSON", id="not-json"),
        pytest.param(b'[{"id": "a"}]', 'exactly "id" and "label"', id="no-label"),
        pytest.param(
            b'[{"id": 3, "label": 1.0}]', '"id" must be a non-empty string', id="id-not-text"
        ),
        pytest.param(b'[{"id": "a", "label": "x"}]', "not a finite number", id="regression-text"),
        pytest.param(
            b'[{"id": "a", "label": 1}, {"id": "a", "label": 2}]', "appears twice", id="dup"
        ),
    ],
)
def test_bad_feedback_is_refused_naming_the_problem(body, match):
    with pytest.raises((InvalidLabel, MalformedRequest), match=match):
        parse_feedback(body, task="regression", classes=None)


def test_the_join_is_all_or_nothing_and_a_label_cannot_be_given_twice():
    recent = RecentPredictions(capacity=3)
    for i in range(5):
        recent.remember(f"r{i}", np.array([i % 2]))
    with pytest.raises(UnknownRequestId) as caught:  # r0, r1 fell out of the memory
        recent.join([FeedbackItem("r4", (1,)), FeedbackItem("r0", (1,)), FeedbackItem("r1", (0,))])
    assert caught.value.ids == ["r0", "r1"] and caught.value.status_code == 404
    joined = recent.join([FeedbackItem("r4", (1,)), FeedbackItem("r3", (0,))])
    assert [(j.request_id, j.labels, j.predictions) for j in joined] == [
        ("r4", (1,), (0,)),
        ("r3", (0,), (1,)),
    ]
    with pytest.raises(LabelConflict, match="already has a label"):
        recent.join([FeedbackItem("r2", (0,)), FeedbackItem("r3", (0,))])
    assert recent.join([FeedbackItem("r2", (0,))])  # r2 was not marked by the failed batch
    with pytest.raises(InvalidLabel, match="had 1 row"):
        recent.remember("multi", np.array([1]))
        recent.join([FeedbackItem("multi", (1, 0))])


# -- the server, whole ---------------------------------------------------------------------


def _samples(url: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_ids_are_returned_predictions_logged_and_wrong_labels_counted(iris_bundle, tmp_path: Path):
    settings = iris_bundle.settings(
        prediction_log_dir=str(tmp_path),
        log_sample_rate=1.0,
        log_flush_seconds=0.05,
        pod_name="pod-a",
    )
    rows = iris_bundle.X[[0, 50, 100]].tolist()  # classes 0, 1, 2
    with running(settings) as (url, _):
        v1 = httpx.post(f"{url}/v1/models/iris:predict", json={"instances": [rows[0]]})
        assert len(v1.headers["x-request-id"]) == 32  # generated
        given = httpx.post(
            f"{url}/v1/models/iris:predict",
            json={"instances": [rows[1]]},
            headers={"X-Request-Id": "client-7"},
        )
        assert given.headers["x-request-id"] == "client-7"
        body = {
            "id": "oip-9",
            "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": rows[2]}],
        }
        v2 = httpx.post(f"{url}/v2/models/iris/infer", json=body)
        assert v2.json()["id"] == "oip-9" and v2.headers["x-request-id"] == "oip-9"
        del body["id"]
        anonymous = httpx.post(f"{url}/v2/models/iris/infer", json=body)
        assert anonymous.json()["id"] == anonymous.headers["x-request-id"]

        # Every label wrong: the class after the predicted one.
        feedback = [
            {"id": v1.headers["x-request-id"], "label": 1},
            {"id": "client-7", "label": 2},
            {"id": "oip-9", "label": 0},
        ]
        answer = httpx.post(f"{url}/v2/models/iris/feedback", json=feedback)
        assert answer.status_code == 200 and answer.json() == {"accepted": 3, "rows": 3}
        again = httpx.post(f"{url}/v2/models/iris/feedback", json=feedback[:1])
        assert again.status_code == 409
        unknown = httpx.post(f"{url}/v2/models/iris/feedback", json=[{"id": "never", "label": 0}])
        assert unknown.status_code == 404 and unknown.json()["ids"] == ["never"]
        bad = httpx.post(f"{url}/v2/models/iris/feedback", json=[{"id": "x", "label": "setosa"}])
        assert bad.status_code == 422 and "not a class" in bad.json()["error"]
        got = _samples(url)
    confusion = {
        (dict(labels)[names.LABEL_LABEL], dict(labels)[names.LABEL_PREDICTED]): value
        for (name, labels), value in got.items()
        if name == names.FEEDBACK_CONFUSION_TOTAL
    }
    assert confusion == {("1", "0"): 1.0, ("2", "1"): 1.0, ("0", "2"): 1.0}
    logged = pd.concat(pd.read_parquet(p) for p in tmp_path.glob("requests-*pod-a*.parquet"))
    assert sorted(logged["_request_id"]) == sorted(
        [v1.headers["x-request-id"], "client-7", "oip-9", anonymous.headers["x-request-id"]]
    )
    assert list(logged.columns[4:8]) == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    labels = pd.concat(pd.read_parquet(p) for p in tmp_path.glob("labels-*.parquet"))
    assert dict(zip(labels["_request_id"], labels["_label"], strict=True)) == {
        v1.headers["x-request-id"]: 1,
        "client-7": 2,
        "oip-9": 0,
    }


def test_a_regressors_labels_become_error_sums(regression_bundle):
    X = regression_bundle.X[:4]
    predicted = regression_bundle.estimator.predict(X)
    with running(regression_bundle.settings()) as (url, _):
        ids = []
        for row in X.tolist():
            reply = httpx.post(f"{url}/v1/models/house:predict", json={"instances": [row]})
            ids.append(reply.headers["x-request-id"])
        labels = [float(p) + d for p, d in zip(predicted, [1.0, -2.0, 3.0, 0.0], strict=True)]
        feedback = [{"id": i, "label": v} for i, v in zip(ids, labels, strict=True)]
        assert httpx.post(f"{url}/v2/models/house/feedback", json=feedback).status_code == 200
        got = _samples(url)
    sums = {
        dict(labels)[names.LABEL_STAT]: value
        for (name, labels), value in got.items()
        if name == names.FEEDBACK_SUM
    }
    assert sums["rows"] == 4
    assert sums["absError"] == pytest.approx(6.0)
    assert sums["squaredError"] == pytest.approx(14.0)
    assert sums["label"] == pytest.approx(sum(labels))
