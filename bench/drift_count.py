"""Micro-benchmark: what counting live inputs into the drift bins costs per row.

Times `DriftCounter.count` (modelpilot.serving.drift) on batches shaped like the serving
bench's models (iris: 4 numeric features; hgb50: 50) and like the micro-batches the server
forms (1, 32 and 1024 rows), including the deferred counting a scrape (or FLUSH_ROWS pending
rows) triggers, and prints nanoseconds per row and per batch. On a loaded machine, read the
last column: the cost in units of one small numpy call measured in the same run.

    .venv/bin/python bench/drift_count.py [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from modelpilot.serving.drift import DriftCounter
from modelpilot.trainer.reference import reference_of


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per case")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    # A yardstick for a loaded machine: one tiny numpy call (about 0.5 us on an idle core).
    small = np.zeros(10)
    calls, began = 0, time.perf_counter()
    while time.perf_counter() - began < args.seconds:
        for _ in range(1000):
            np.add(small, 1.0)
        calls += 1000
    yardstick = (time.perf_counter() - began) / calls * 1e6
    print(f"yardstick: one small numpy call takes {yardstick:.2f} us here")
    print("| features | rows/batch | ns/row | us/batch | batch in yardsticks |")
    print("|---|---|---|---|---|")
    for width in (4, 50):
        names = [f"f{i}" for i in range(width)]
        train = pd.DataFrame(rng.normal(size=(5000, width)), columns=names)
        counter = DriftCounter(reference_of(train), names, model="m", version="v1")
        for rows in (1, 32, 1024):
            batch = rng.normal(size=(rows, width))
            counter.count(batch)  # warm
            calls, began = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - began) < args.seconds:
                for _ in range(100):
                    counter.count(batch)
                calls += 100
            counter.flush()  # what a scrape does: the deferred counting is part of the cost
            elapsed = time.perf_counter() - began
            per_batch = elapsed / calls
            print(
                f"| {width} | {rows} | {per_batch / rows * 1e9:,.0f} | {per_batch * 1e6:.1f} "
                f"| {per_batch * 1e6 / yardstick:.0f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
