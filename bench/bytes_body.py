"""What one maximum-size binary BYTES body costs the serving pod's event loop, with and
without the declared-shape checks (issue 21 §3, modelpilot.serving.declared).

The body is the one tests/e2e/test_serving_memory.py floods with: 8,000,000 bytes, one V2
binary BYTES tensor of two-byte strings (about 1.3 million elements) for an iris-like model
(four numeric features, --max-batch-rows 1024). `v2.parse_infer` refuses it either way (413);
the question is what it costs first. "before" runs the same code with the declared checks
switched off (no-ops), which is how parse_infer behaved before them: every element decoded
into a Python str, then the row cap. Each case runs in a fresh process, so its peak RSS
(getrusage's ru_maxrss) is its own: the process's peak, and its growth over the peak just
before the parse (building the body had already peaked at twice its size). The parse's own
allocation peak is measured again under tracemalloc (not timed).

    .venv/bin/python bench/bytes_body.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import struct
import subprocess
import sys
import time
import tracemalloc

BODY = 8_000_000
IRIS = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")


def body() -> tuple[bytes, int]:
    import orjson

    count = (BODY - 256) // 6
    raw = (struct.pack("<I", 2) + b"ab") * count
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": IRIS[0],
                    "shape": [count],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    )
    return header + raw, len(header)


def one(mode: str) -> dict[str, float | str]:
    from modelpilot.serving import declared, v2
    from modelpilot.serving.errors import InvalidInput, PayloadTooLarge
    from modelpilot.serving.features import FeatureLayout

    if mode == "before":
        declared.check_shape = lambda name, shape, layout: 0  # type: ignore[assignment]
        declared.check_bytes_size = lambda name, count, size: None  # type: ignore[assignment]
    layout = FeatureLayout(names=IRIS, kinds=("f",) * 4, max_rows=1024)
    data, header_length = body()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.perf_counter()
    try:
        v2.parse_infer(data, layout, has_proba=True, header_length=header_length)
        answer = "accepted"
    except (PayloadTooLarge, InvalidInput) as error:
        answer = f"{error.status_code}"
    seconds = time.perf_counter() - started
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Again under tracemalloc (slower, so not timed): the parse's own allocation peak.
    tracemalloc.start()
    with contextlib.suppress(PayloadTooLarge, InvalidInput):
        v2.parse_infer(data, layout, has_proba=True, header_length=header_length)
    _, allocated = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "mode": mode,
        "answer": answer,
        "ms": seconds * 1000,
        "peak_rss_mib": peak_after / 1024,
        "peak_rss_growth_mib": (peak_after - peak_before) / 1024,
        "allocated_mib": allocated / 2**20,
        "body_bytes": len(data),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", choices=("before", "after"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return 0
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for _ in range(args.repeats):
        for mode in runs:  # interleaved, so a load change hits both alike
            out = subprocess.run(
                [sys.executable, __file__, "--one", mode],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            runs[mode].append(json.loads(out))
    print(
        f"one binary BYTES body of {runs['after'][0]['body_bytes']} bytes, median of {args.repeats}"
    )
    print(
        "| declared checks | answer | event loop ms | process peak RSS MiB "
        "| peak RSS growth MiB | parse's allocation peak MiB |"
    )
    print("|---|---|---|---|---|---|")
    for mode, results in runs.items():

        def median(key: str, results: list[dict] = results) -> float:
            return statistics.median(r[key] for r in results)

        print(
            f"| {mode} | {results[0]['answer']} | {median('ms'):.1f} "
            f"| {median('peak_rss_mib'):.1f} | {median('peak_rss_growth_mib'):.1f} "
            f"| {median('allocated_mib'):.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
