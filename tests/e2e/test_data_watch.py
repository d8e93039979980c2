"""Retraining when the data changes, on the real control plane (examples/data-watch): a CSV
on the store's volume; v1 trains on it; while the file is unchanged, three probe intervals
start nothing; once it gains rows, a DataChanged revision starts within one interval, and
status shows both fingerprints. The operator never mounts the volume: probe Jobs do.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kube import wait_for
from operator_harness import EXAMPLES, Story
from sklearn.datasets import load_iris

pytestmark = pytest.mark.e2e
INTERVAL = 10  # examples/data-watch: watch.interval


def write_iris(path: Path, rows: int) -> None:
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.sample(frac=1.0, random_state=0).iloc[:rows].to_csv(path, index=False)


def test_a_csv_that_gains_rows_starts_a_data_changed_revision_and_an_unchanged_one_nothing(
    operator, kubectl, namespace
):
    story = Story(kubectl, namespace)
    story.apply(EXAMPLES / "data-watch" / "model-store.yaml")
    csv = story.store_dir() / "data" / "iris.csv"
    write_iris(csv, 120)
    story.apply(EXAMPLES / "data-watch" / "iris-data-watch.yaml")
    story.wait_condition("Ready", timeout=240)
    trained = story.status()["stable"]["trainingDataSha256"]

    # Unchanged: probes run and report the same fingerprint; nothing starts for 3 intervals.
    wait_for(
        lambda: (story.status().get("dataWatch") or {}).get("observedSha256") == trained,
        timeout=2 * INTERVAL + 30,
        what="a probe reporting the trained fingerprint",
    )
    time.sleep(3 * INTERVAL)
    status = story.status()
    assert status["revisionCounter"] == 1 and "candidate" not in status
    watch = status["dataWatch"]
    assert watch["probes"] >= 3
    assert watch["hashed"] is False  # size/mtime unchanged: no hashing
    assert watch["message"].startswith("the dataset is unchanged")

    # The file gains rows: a DataChanged revision within one interval (plus a probe's run).
    write_iris(csv, 150)
    changed = time.monotonic()
    candidate = wait_for(
        lambda: (lambda c: c if c.get("trigger") == "DataChanged" else None)(
            story.status().get("candidate") or {}
        ),
        timeout=INTERVAL + 30,
        what="a DataChanged revision",
    )
    print(
        f"DataChanged revision {candidate['revision']} {time.monotonic() - changed:.1f}s "
        "after the file changed"
    )
    watch = story.status()["dataWatch"]
    assert watch["trainedSha256"] == trained
    assert watch["observedSha256"] != trained
    # v2 trains on the new data, whatever the gate then says about it.
    v2 = wait_for(
        lambda: next(
            (h for h in story.status().get("history") or [] if h["revision"] == "v2"), None
        ),
        timeout=240,
        what="v2 concluded",
    )
    assert v2["trainingDataSha256"] == watch["observedSha256"]
