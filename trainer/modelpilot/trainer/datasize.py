"""How large a data set the trainer takes: refused before it is read, not killed mid-fit.

A data set is loaded whole into pandas, split, and copied again by the estimator (float
arrays, one-hot columns, the holdout), so a file that is a sizeable share of the container's
memory limit ends in an OOM kill: a pod that vanishes with "OOMKilled" and no word about the
data. The trainer instead adds up the bytes of every part (file sizes, object sizes: the
listing, nothing read) and refuses a data set above the limit with a DataError naming both
figures. The limit is MODELPILOT_DATASET_MAX_BYTES when set, else an eighth of the memory
limit the operator passes through the downward API (MODELPILOT_MEMORY_LIMIT: the trainer
container's limits.memory, 2Gi by default, so 256 MiB of CSV or Parquet); without either
(a trainer run by hand) there is no limit.

Why an eighth, not a quarter: measured, a CSV of numbers and text categories takes about five
times its size once pandas has parsed it (27 MiB -> 130 MiB, bench/dataset_memory.py), so a quarter
of the limit would be OOM-killed while loading, before the split and the estimator's own
copies. The estimator's needs come on top and depend on it (a forest of deep trees grows with
the rows); the limit only guarantees that loading is not what kills the pod.
"""

from __future__ import annotations

from collections.abc import Mapping

from modelpilot.api import names
from modelpilot.trainer.errors import DataError, SpecError

# Of the memory limit, the share the data set's bytes may take (the rest: parsing, about 5x
# the bytes of a CSV, the split's copies, the estimator's arrays).
MEMORY_SHARE = 8


def human(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _bytes(env: Mapping[str, str], name: str) -> int | None:
    text = (env.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise SpecError(f"{name}={text!r} is not a number of bytes")
    return int(text)


def max_dataset_bytes(env: Mapping[str, str]) -> tuple[int | None, str]:
    """(the most bytes a data set may have, where that figure comes from); None: no limit."""
    explicit = _bytes(env, names.ENV_DATASET_MAX_BYTES)
    if explicit is not None:
        return (explicit or None), names.ENV_DATASET_MAX_BYTES
    memory = _bytes(env, names.ENV_MEMORY_LIMIT)
    if memory is None:
        return None, "no memory limit"
    return (
        memory // MEMORY_SHARE,
        f"an eighth of the trainer's memory limit of {human(memory)}",
    )


def check_size(*, where: str, total: int, parts: int, env: Mapping[str, str]) -> None:
    """DataError when the data set's `total` bytes exceed the limit `env` sets."""
    limit, origin = max_dataset_bytes(env)
    if limit is None or total <= limit:
        return
    of = f" in {parts} parts" if parts > 1 else ""
    raise DataError(
        f"dataset {where} is {human(total)}{of}, more than the trainer loads: "
        f"{human(limit)} ({origin}); raise spec.training.resources.limits.memory (the "
        f"data may take an eighth of it), or train on a sample or fewer columns"
    )
