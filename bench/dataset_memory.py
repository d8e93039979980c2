"""How much memory a data set takes once the trainer has loaded it, against its size on disk.

    .venv/bin/python bench/dataset_memory.py [--rows 1000000]

Repeats examples/own-data/churn.csv (numbers and text categories with gaps) to --rows rows,
writes it to a temporary CSV, and in a fresh process loads it as the trainer does
(`load_dataset`, fingerprint included), printing the file's size and the peak RSS above the
imports. docs/own-data.md's size table and the trainer's limit (modelpilot.trainer.datasize:
an eighth of the memory limit) come from this.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own-data" / "churn.csv"

MEASURE = """
import os, sys, time
from modelpilot.api.spec import Dataset
from modelpilot.trainer.datasets import load_dataset

def kib(field):  # from /proc/self/status; ru_maxrss would carry the forking parent's peak
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

# Warm up on the small example first (imports, the CSV parser, pyarrow), so the base counts
# everything but the data; then reset the high-water mark (clear_refs 5).
load_dataset(Dataset.model_validate({"uri": sys.argv[2], "target": "churned"}), env={})
base = kib("VmRSS")
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
start = time.monotonic()
data = load_dataset(Dataset.model_validate({"uri": sys.argv[1], "target": "churned"}), env={})
seconds = time.monotonic() - start
peak = kib("VmHWM")
size = os.path.getsize(sys.argv[1])
print(f"{data.rows} rows x {data.features.shape[1] + 1} columns: file {size / 2**20:.1f} MiB, "
      f"peak {(peak - base) / 1024:.0f} MiB above the {base / 1024:.0f} MiB before it "
      f"({(peak - base) * 1024 / size:.1f}x the file), {seconds:.1f} s")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    source = pd.read_csv(EXAMPLE)
    frame = pd.concat([source] * (args.rows // len(source) + 1), ignore_index=True)
    frame = frame.iloc[: args.rows].copy()
    noise = np.random.default_rng(0).normal(0, 1, len(frame))
    frame["monthly_fee"] = (frame["monthly_fee"] + noise).round(2)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "churn.csv"
        frame.to_csv(path, index=False)
        subprocess.run([sys.executable, "-c", MEASURE, str(path), str(EXAMPLE)], check=True)


if __name__ == "__main__":
    main()
