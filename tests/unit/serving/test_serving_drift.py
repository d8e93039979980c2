"""Counting live inputs into the reference bins: the vectorized counter agrees with the api's
one-value rule everywhere (edges included), categorical values land in their bin or "other",
and /metrics carries both the counts and the reference shares under the fixed names."""

from __future__ import annotations

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from modelpilot.api.drift import (
    FEATURE_BIN_TOTAL,
    FEATURE_REFERENCE_RATIO,
    MAX_BINS,
    MAX_SERIES,
    DriftReference,
    FeatureReference,
)
from modelpilot.serving.drift import DriftCounter
from modelpilot.serving.metrics import ServingMetrics
from modelpilot.trainer.reference import reference_of


def test_numeric_counts_match_the_reference_rule_on_and_between_edges():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(size=500), "b": rng.integers(0, 5, size=500)})
    reference = reference_of(train)
    counter = DriftCounter(reference, ["a", "b"], model="m", version="v1")
    a_edges = reference.features[0].edges
    live = np.column_stack(
        [
            np.concatenate([rng.normal(size=300), a_edges, [-1e9, 1e9]]),
            rng.integers(-2, 8, size=300 + len(a_edges) + 2),
        ]
    ).astype(np.float64)
    counter.count(live[:100])
    counter.count(live[100:])
    expected = np.zeros(len(counter.slots), dtype=np.int64)
    offset = 0
    for j, feature in enumerate(reference.features):
        for value in live[:, j]:
            expected[offset + feature.bin_of(value)] += 1
        offset += feature.bins
    assert counter.counts.tolist() == expected.tolist()
    # The training rows fall into the same bins the trainer counted.
    again = DriftCounter(reference, ["a", "b"], model="m", version="v1")
    again.count(train.to_numpy(dtype=np.float64))
    assert again.counts.tolist() == [c for f in reference.features for c in f.counts]


def test_categorical_values_fall_in_their_bin_or_other():
    train = pd.DataFrame({"colour": ["red"] * 6 + ["blue"] * 3 + ["green"], "x": range(10)})
    reference = reference_of(train)
    colour = reference.features[0]
    assert colour.kind == "categorical"
    assert (colour.categories, colour.counts) == (["red", "blue", "green"], [6, 3, 1, 0])
    rows = np.array([["red", 1.0], ["purple", 2.0], ["blue", 3.0]], dtype=object)
    counter = DriftCounter(
        reference, ["colour", "x"], model="m", version="v1", category_values=True
    )
    counter.count(rows)
    by_slot = dict(zip(counter.slots, counter.counts.tolist(), strict=True))
    assert by_slot[("colour", "red")] == 1
    assert by_slot[("colour", "blue")] == 1
    assert by_slot[("colour", "other")] == 1
    # By default the bins are named by index: the same counts, no training values.
    default = DriftCounter(reference, ["colour", "x"], model="m", version="v1")
    default.count(rows)
    by_slot = dict(zip(default.slots, default.counts.tolist(), strict=True))
    assert (by_slot[("colour", "c0")], by_slot[("colour", "c1")]) == (1, 1)
    assert by_slot[("colour", "other")] == 1


def test_metrics_publish_no_training_category_values_unless_opted_in():
    # Issue 21 §7: /metrics published the training data's most frequent category values
    # (seen on main: "alice@example.com" on the page).
    train = pd.DataFrame({"email": ["alice@example.com"] * 5 + ["bob@example.com"] * 3})
    reference = reference_of(train)

    def page(**opt_in: bool) -> str:
        drift = DriftCounter(reference, ["email"], model="m", version="v1", **opt_in)
        drift.count(np.array([["alice@example.com"]], dtype=object))
        return (
            ServingMetrics(model="m", version="v1", task="regression", drift=drift)
            .render()
            .decode()
        )

    assert "example.com" not in page()
    assert 'bin="c0"' in page()
    assert "alice@example.com" in page(category_values=True)


def test_metrics_page_has_counts_and_reference_shares_under_fixed_names():
    train = pd.DataFrame({"a": np.arange(100.0)})
    reference = reference_of(train)
    drift = DriftCounter(reference, ["a"], model="iris", version="v3")
    metrics = ServingMetrics(model="iris", version="v3", task="regression", drift=drift)
    drift.count(np.array([[1.0], [95.0], [96.0]]))
    samples = {
        (s.name, s.labels["bin"]): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.name in (FEATURE_BIN_TOTAL, FEATURE_REFERENCE_RATIO)
    }
    assert samples[(FEATURE_BIN_TOTAL, "0")] == 1
    assert samples[(FEATURE_BIN_TOTAL, str(MAX_BINS - 1))] == 2
    assert samples[(FEATURE_REFERENCE_RATIO, "0")] == 0.1
    assert len(samples) == 2 * MAX_BINS


def test_series_are_capped_however_wide_the_model():
    wide = pd.DataFrame(np.random.default_rng(1).normal(size=(50, 300)))
    reference = reference_of(wide)
    assert sum(f.bins for f in reference.features) <= MAX_SERIES
    assert len(reference.features) == MAX_SERIES // MAX_BINS
    assert reference.unmonitored == [str(i) for i in range(MAX_SERIES // MAX_BINS, 300)]
    assert DriftReference.model_validate_json(reference.model_dump_json()) == reference


def test_a_constant_feature_counts_every_row_in_one_bin():
    feature = reference_of(pd.DataFrame({"k": [3.0] * 20})).features[0]
    assert feature == FeatureReference(name="k", kind="numeric", edges=[3.0], counts=[0, 20])
