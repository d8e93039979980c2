"""Benchmark: `modelpilot train` against a plain script doing the same read, split, fit, score.

Generates a 50,000-row CSV (20 numeric features, binary label) in a temporary directory,
then, for each estimator (the design's RandomForestClassifier, and HistGradientBoosting as a
fast-fit worst case for relative overhead), times in one warm process, alternating so drift
hits both equally:
  - modelpilot: `modelpilot.trainer.__main__.main([...])` (spec parsing, checks, fingerprints,
    every metric, bundle write, termination message);
  - plain: pandas.read_csv, train_test_split (stratified), fit, accuracy_score.
Interpreter start-up and imports are measured separately, in fresh subprocesses (the whole
command's wall time minus its best in-process time), because they are paid once per training
pod and are not what the ratio is about.

    .venv/bin/python bench/train_vs_plain.py [--rows 50000] [--repeats 5] [--estimator rf|hgb]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ESTIMATORS = {
    "rf": ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 100, "random_state": 0}),
    "hgb": (
        "sklearn.ensemble.HistGradientBoostingClassifier",
        {"max_iter": 100, "random_state": 0},
    ),
}
TEST_SIZE = 0.25
SEED = 0


def make_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(rows, 20))
    logits = x[:, :5] @ np.array([1.5, -2.0, 1.0, 0.5, -1.0]) + 0.5 * x[:, 5] * x[:, 6]
    label = (logits + rng.normal(scale=1.0, size=rows) > 0).astype(int)
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(20)])
    frame["label"] = label
    frame.to_csv(path, index=False)


def plain(csv: Path, key: str) -> float:
    """What a person would write by hand; returns the accuracy."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    cls = {"rf": RandomForestClassifier, "hgb": HistGradientBoostingClassifier}[key]
    frame = pd.read_csv(csv)
    x, y = frame.drop(columns="label"), frame["label"]
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=SEED, stratify=y
    )
    model = cls(**ESTIMATORS[key][1]).fit(x_train, y_train)
    return accuracy_score(y_test, model.predict(x_test))


def modelpilot(spec: Path, out: Path, log: Path) -> float:
    from modelpilot.trainer.__main__ import main

    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["--spec", str(spec), "--output", str(out), "--termination-log", str(log)], {})
    if code != 0:
        raise SystemExit(f"modelpilot train exited {code}")
    return json.loads(log.read_text())["candidate_score"]


def wall(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_one(key: str, csv: Path, tmp_path: Path, repeats: int) -> None:
    estimator, params = ESTIMATORS[key]
    spec = tmp_path / f"spec-{key}.json"
    spec.write_text(
        json.dumps(
            {
                "training": {
                    "dataset": {"uri": str(csv), "target": "label"},
                    "estimator": estimator,
                    "params": params,
                    "testSize": TEST_SIZE,
                    "randomState": SEED,
                },
                "evaluation": {"metric": "accuracy"},
            }
        )
    )
    runs = iter(range(10_000))

    def out() -> tuple[Path, Path]:
        n = next(runs)
        return tmp_path / "store" / f"{key}-v{n}", tmp_path / f"log-{key}-{n}"

    # Warm-up: imports, page cache, thread pools.
    score_plain, score_mp = plain(csv, key), modelpilot(spec, *out())
    assert abs(score_plain - score_mp) < 1e-12, (score_plain, score_mp)

    wall_s: dict[str, list[float]] = {"plain": [], "modelpilot": []}
    cpu_s: dict[str, list[float]] = {"plain": [], "modelpilot": []}
    for _ in range(repeats):
        for name, fn in (
            ("plain", lambda: plain(csv, key)),
            ("modelpilot", lambda: modelpilot(spec, *out())),
        ):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            fn()
            wall_s[name].append(time.perf_counter() - wall0)
            cpu_s[name].append(time.process_time() - cpu0)
    med = {k: statistics.median(v) for k, v in wall_s.items()}
    best = {k: min(v) for k, v in wall_s.items()}
    cpu = {k: min(v) for k, v in cpu_s.items()}
    print(f"\n{estimator} {params}: accuracy {score_plain:.4f} (identical for both)")
    for name, values in wall_s.items():
        spread = ", ".join(f"{v:.3f}" for v in values)
        print(
            f"  {name:<11} wall min {best[name]:.3f}s median {med[name]:.3f}s, "
            f"cpu min {cpu[name]:.3f}s  (wall runs: {spread})"
        )
    ratio = best["modelpilot"] / best["plain"]
    verdict = "within" if ratio <= 1.1 else "OVER"
    print(
        f"  ratio modelpilot/plain: wall (min) {ratio:.3f}x ({verdict} the 1.1x target), "
        f"wall (median) {med['modelpilot'] / med['plain']:.3f}x, "
        f"cpu {cpu['modelpilot'] / cpu['plain']:.3f}x; "
        f"overhead {best['modelpilot'] - best['plain']:+.3f}s"
    )

    # Start-up: the same work as fresh processes, minus the warm in-process median.
    cmd_out, cmd_log = out()
    mp_cmd = [
        sys.executable,
        "-m",
        "modelpilot.cli",
        "train",
        "--spec",
        str(spec),
        "--output",
        str(cmd_out),
        "--termination-log",
        str(cmd_log),
    ]
    mp_wall = wall(mp_cmd, 1)
    plain_wall = wall([sys.executable, __file__, "--plain-only", str(csv), "--estimator", key], 1)
    print(
        f"  as fresh processes: modelpilot {mp_wall:.3f}s, plain {plain_wall:.3f}s; "
        f"start-up + imports (not in the ratio): modelpilot "
        f"{mp_wall - best['modelpilot']:.3f}s, plain {plain_wall - best['plain']:.3f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--estimator", choices=[*ESTIMATORS, "all"], default="all")
    parser.add_argument("--plain-only", metavar="CSV", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_only:
        plain(Path(args.plain_only), args.estimator)
        return

    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        tmp_path = Path(tmp)
        csv = tmp_path / "train.csv"
        make_csv(csv, args.rows)
        print(
            f"data: {args.rows} rows x 20 features, {csv.stat().st_size / 1e6:.1f} MB CSV; "
            f"{args.repeats} timed runs each, after a warm-up; python {sys.version.split()[0]}; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
            "(wall times are only comparable on an idle machine; min is the least disturbed)"
        )
        keys = list(ESTIMATORS) if args.estimator == "all" else [args.estimator]
        for key in keys:
            bench_one(key, csv, tmp_path, args.repeats)
    bare = wall([sys.executable, "-c", "pass"], 3)
    print(f"\nbare interpreter start-up: {bare:.3f}s")


if __name__ == "__main__":
    main()
