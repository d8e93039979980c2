import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelpilot.operator.analysis import Counts, Snapshot, window
from modelpilot.operator.analysis.counts import code_class, per_bucket

PREV = Counts(
    requests={"2xx": 100, "5xx": 2},
    latency={0.01: 90, 0.1: 12, math.inf: 0},
    predicted_classes={"a": 60, "b": 40},
)


@pytest.mark.parametrize(
    ("prev", "curr", "expected"),
    [
        pytest.param(
            None,
            PREV,
            PREV,
            id="first-scrape-counts-everything-since-start",
        ),
        pytest.param(
            PREV,
            Counts(
                requests={"2xx": 150, "5xx": 2, "4xx": 1},
                latency={0.01: 130, 0.1: 22, math.inf: 1},
                predicted_classes={"a": 80, "b": 70},
            ),
            Counts(
                requests={"2xx": 50, "5xx": 0, "4xx": 1},
                latency={0.01: 40, 0.1: 10, math.inf: 1},
                predicted_classes={"a": 20, "b": 30},
            ),
            id="deltas-and-a-new-status-class",
        ),
        pytest.param(
            PREV,
            Counts(requests={"2xx": 7}, latency={0.01: 7, 0.1: 0, math.inf: 0}),
            Counts(requests={"2xx": 7}, latency={0.01: 7, 0.1: 0, math.inf: 0}),
            id="counter-went-down-is-a-restart",
        ),
        pytest.param(
            PREV,
            Counts(
                requests={"2xx": 200, "5xx": 2},
                latency={0.01: 190, 0.1: 12, math.inf: 0},
                predicted_classes={"a": 160},
            ),
            Counts(
                requests={"2xx": 200, "5xx": 2},
                latency={0.01: 190, 0.1: 12, math.inf: 0},
                predicted_classes={"a": 160},
            ),
            id="a-vanished-series-is-a-restart",
        ),
    ],
)
def test_window(prev, curr, expected):
    assert window(prev, curr) == expected


def test_counts_add_up_across_pods():
    assert PREV + Counts(requests={"2xx": 1}, latency={0.01: 1}) == Counts(
        requests={"2xx": 101, "5xx": 2},
        latency={0.01: 91, 0.1: 12, math.inf: 0},
        predicted_classes={"a": 60, "b": 40},
    )


def test_snapshot_is_small_plain_json_and_round_trips():
    snapshot = Snapshot(pods={"10.0.0.7": PREV, "10.0.0.5": Counts(requests={"2xx": 2.5})})
    status = snapshot.to_status()
    assert json.loads(json.dumps(status, allow_nan=False)) == status
    assert status == {
        "10.0.0.5": {"requests": {"2xx": 2.5}},
        "10.0.0.7": {
            "requests": {"2xx": 100, "5xx": 2},
            "latency": {"0.01": 90, "0.1": 12},  # zero buckets left out
            "classes": {"a": 60, "b": 40},
        },
    }
    back = Snapshot.from_status(status)
    assert back is not None
    assert back.pods["10.0.0.5"] == Counts(requests={"2xx": 2.5})
    assert Snapshot.from_status(None) is None


def test_infinite_bound_is_written_as_the_exposition_format_does():
    status = Counts(latency={0.5: 1, math.inf: 3}).to_status()
    assert status == {"latency": {"0.5": 1, "+Inf": 3}}
    assert Counts.from_status(status).latency == {0.5: 1.0, math.inf: 3.0}


counters = st.dictionaries(st.sampled_from([0.01, 0.1, 1.0, math.inf]), st.integers(0, 1000))


@given(prev=counters, more=counters)
def test_a_stored_snapshot_gives_the_same_window_as_the_original(prev, more):
    before = Counts(latency={b: float(n) for b, n in prev.items()})
    after = before + Counts(latency={b: float(n) for b, n in more.items()})
    stored = Counts.from_status(json.loads(json.dumps(before.to_status())))
    assert window(stored, after) == window(before, after)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("200", "2xx"),
        ("404", "4xx"),
        ("503", "5xx"),
        ("", "other"),
        ("600", "other"),
        ("20", "other"),
    ],
)
def test_code_class(code, expected):
    assert code_class(code) == expected


def test_per_bucket_never_goes_negative():
    assert per_bucket({0.1: 5, 0.2: 4, math.inf: 6}) == {0.1: 5, 0.2: 0, math.inf: 1}
