"""Data sets of many parts, where they live: a directory, a glob, a partitioned Parquet data set,
on a local path, a dataset claim or S3, and the size limit checked before anything is read.

The S3 cases run against a real S3 server: moto in server mode (hack/s3server, the server the
e2e tests start), listing and reading over HTTP through the trainer's own client."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from modelpilot.api import names, s3
from modelpilot.api.spec import Dataset
from modelpilot.trainer import sources
from modelpilot.trainer.datasets import load_dataset
from modelpilot.trainer.datasize import max_dataset_bytes
from modelpilot.trainer.errors import DataError
from modelpilot.trainer.probe import signals_of

ROOT = Path(__file__).resolve().parents[3]
KEY_ID, SECRET_KEY = "unit-key", "unit-secret"


def _sales(year: int, rows: int = 6) -> pd.DataFrame:
    """Users' kind of data: a number, a text category and gaps in both."""
    rng = np.random.default_rng(year)
    amount = rng.normal(100, 20, rows).round(2)
    amount[1] = np.nan
    region = np.array(["north", "south", None, "east", "west", "north"][:rows], dtype=object)
    return pd.DataFrame(
        {"amount": amount, "region": region, "churned": [year % 2, 1, 0, 1, 0, 1][:rows]}
    )


def _write_partitioned(root: Path) -> None:
    for year in (2025, 2026):
        part = root / f"year={year}"
        part.mkdir(parents=True)
        _sales(year).to_parquet(part / "part-0.parquet", index=False)
        _sales(year + 10).to_parquet(part / "part-1.parquet", index=False)
    (root / "_SUCCESS").write_text("")
    (root / "year=2026" / ".part-0.parquet.crc").write_text("x")


def _dataset(**fields: object) -> Dataset:
    return Dataset.model_validate({"target": "churned", **fields})


def test_a_partitioned_parquet_directory_loads_every_part_with_its_partition_column(tmp_path):
    _write_partitioned(tmp_path / "sales")
    data = load_dataset(_dataset(uri=str(tmp_path / "sales")), env={})
    assert data.rows == 24
    frame = data.features
    assert list(frame.columns) == ["amount", "region", "year"]
    assert frame["year"].dtype == "int64"
    assert frame["year"].tolist() == [2025] * 12 + [2026] * 12  # parts in name order
    assert frame["amount"].isna().sum() == 4 and frame["region"].isna().sum() == 4
    again = load_dataset(_dataset(uri=str(tmp_path / "sales") + "/"), env={})
    assert again.sha256 == data.sha256


def test_a_glob_matches_segment_by_segment_and_skips_nothing_it_names(tmp_path):
    _write_partitioned(tmp_path / "sales")
    only_first = load_dataset(_dataset(uri=str(tmp_path / "sales/year=*/part-0.parquet")), env={})
    assert only_first.rows == 12
    with pytest.raises(DataError, match="matches no files"):
        load_dataset(_dataset(uri=str(tmp_path / "sales/part-*.parquet")), env={})  # one level
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(_dataset(uri=str(tmp_path / "nowhere/*.csv")), env={})


def test_a_dataset_claim_path_is_read_below_where_the_claim_is_mounted(tmp_path):
    _sales(2026).to_csv(tmp_path / "sales.csv", index=False)
    dataset = _dataset(pvc={"claimName": "sales-data", "path": "sales.csv"})
    data = load_dataset(dataset, env={names.ENV_DATASET_DIR: str(tmp_path)})
    assert data.rows == 6 and data.source == "pvc://sales-data/sales.csv"
    with pytest.raises(DataError, match=r"pvc://sales-data/gone.csv does not exist"):
        load_dataset(
            _dataset(pvc={"claimName": "sales-data", "path": "gone.csv"}),
            env={names.ENV_DATASET_DIR: str(tmp_path)},
        )


def test_parts_of_mixed_formats_are_refused_naming_them(tmp_path):
    (tmp_path / "d").mkdir()
    _sales(1).to_csv(tmp_path / "d" / "a.csv", index=False)
    _sales(2).to_parquet(tmp_path / "d" / "b.parquet", index=False)
    with pytest.raises(DataError, match="mixes formats"):
        load_dataset(_dataset(uri=str(tmp_path / "d")), env={})
    assert load_dataset(_dataset(uri=str(tmp_path / "d/*.csv")), env={}).rows == 6


def test_a_partition_column_that_is_also_in_the_file_is_refused(tmp_path):
    part = tmp_path / "d" / "region=eu"
    part.mkdir(parents=True)
    _sales(1).to_parquet(part / "p.parquet", index=False)
    with pytest.raises(DataError, match="'region' is both in"):
        load_dataset(_dataset(uri=str(tmp_path / "d")), env={})


# --- the size limit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (None, "no memory limit")),
        ({names.ENV_MEMORY_LIMIT: str(2 * 1024**3)}, 256 * 1024**2),
        ({names.ENV_MEMORY_LIMIT: "4096", names.ENV_DATASET_MAX_BYTES: "100"}, 100),
        ({names.ENV_DATASET_MAX_BYTES: "0"}, None),
    ],
    ids=["no-limit-by-hand", "an-eighth-of-memory", "explicit-wins", "explicit-zero-is-none"],
)
def test_the_size_limit_is_an_eighth_of_the_memory_limit_unless_set(env, expected):
    limit, _ = max_dataset_bytes(env)
    assert limit == (expected[0] if isinstance(expected, tuple) else expected)


def test_a_data_set_over_the_limit_is_refused_before_it_is_read_naming_both_sizes(tmp_path):
    _write_partitioned(tmp_path / "sales")
    total = sum(p.stat().st_size for p in (tmp_path / "sales").rglob("part-*.parquet"))
    env = {names.ENV_MEMORY_LIMIT: str(total * 4)}  # an eighth of it is half the data
    with pytest.raises(DataError) as refused:
        load_dataset(_dataset(uri=str(tmp_path / "sales")), env=env)
    message = str(refused.value)
    assert "in 4 parts" in message and "an eighth of the trainer's memory limit" in message
    assert "spec.training.resources.limits.memory" in message
    env = {names.ENV_MEMORY_LIMIT: str(total * 8)}
    assert load_dataset(_dataset(uri=str(tmp_path / "sales")), env=env).rows == 24


def test_an_unparseable_limit_is_a_spec_error_naming_the_variable():
    with pytest.raises(Exception, match=names.ENV_DATASET_MAX_BYTES):
        max_dataset_bytes({names.ENV_DATASET_MAX_BYTES: "1Gi"})


# --- the probe's cheap signal ----------------------------------------------------------------


def test_the_probe_signal_covers_every_part_and_changes_with_any_of_them(tmp_path):
    _write_partitioned(tmp_path / "sales")
    dataset = _dataset(uri=str(tmp_path / "sales"))
    first = signals_of(dataset, {})
    assert first["parts"] == "4" and len(first["listing"]) == 64
    assert signals_of(dataset, {}) == first
    _sales(2030).to_parquet(tmp_path / "sales/year=2026/part-2.parquet", index=False)
    assert signals_of(dataset, {})["parts"] == "5"
    (tmp_path / "sales/year=2026/part-2.parquet").unlink()
    assert signals_of(dataset, {}) == first
    (tmp_path / "sales/_SUCCESS").write_text("changed")  # not data: no new signal
    assert signals_of(dataset, {}) == first


def test_one_file_keeps_the_signal_it_always_had(tmp_path):
    _sales(1).to_csv(tmp_path / "x.csv", index=False)
    assert set(signals_of(_dataset(uri=str(tmp_path / "x.csv")), {})) == {"size", "mtime"}


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("2026-*/part-*.parquet", "2026-01/part-0.parquet", True),
        ("2026-*/part-*.parquet", "2026-01/extra/part-0.parquet", False),
        ("2026-*/part-*.parquet", "2025-12/part-0.parquet", False),
        ("*.csv", "a/b.csv", False),
    ],
    ids=["match", "star-stays-in-its-segment", "other-year", "no-recursion"],
)
def test_glob_segments(pattern, name, expected):
    assert sources.matches(pattern, name) is expected


# --- S3, on a real S3 server -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    made = subprocess.run(
        [str(ROOT / "hack" / "s3server" / "venv.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert made.returncode == 0, f"cannot create the S3 server's virtualenv:\n{made.stderr}"
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [made.stdout.strip(), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"moto did not answer: {log.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def bucket(s3_server: str, tmp_path: Path) -> tuple[object, dict[str, str]]:
    env = {
        s3.ENV_DATA_S3_ENDPOINT: s3_server,
        s3.ENV_DATA_S3_REGION: "us-east-1",
        f"{s3.DATA_ENV_PREFIX}{s3.KEY_ACCESS_KEY_ID}": KEY_ID,
        f"{s3.DATA_ENV_PREFIX}{s3.KEY_SECRET_ACCESS_KEY}": SECRET_KEY,
    }
    client = s3.client(s3.data_endpoint_from_env(env))
    name = f"data-{tmp_path.name.lower().replace('_', '-')}"[:60].rstrip("-")
    client.make_bucket(name)
    return client, {**env, "bucket": name}


def _upload_tree(client, bucket: str, root: Path, prefix: str) -> None:
    for file in sorted(root.rglob("*")):
        if file.is_file():
            client.fput_object(bucket, f"{prefix}/{file.relative_to(root).as_posix()}", str(file))


def test_an_s3_prefix_of_partitioned_parquet_loads_as_the_same_directory_does(tmp_path, bucket):
    client, env = bucket
    _write_partitioned(tmp_path / "sales")
    _upload_tree(client, env["bucket"], tmp_path / "sales", "warehouse/sales")
    local = load_dataset(_dataset(uri=str(tmp_path / "sales")), env={})
    remote = load_dataset(_dataset(uri=f"s3://{env['bucket']}/warehouse/sales/"), env=env)
    assert remote.rows == 24
    pd.testing.assert_frame_equal(remote.features, local.features)
    assert remote.sha256 == local.sha256  # the same parts, the same fingerprint


def test_an_s3_glob_reads_only_the_matching_objects(tmp_path, bucket):
    client, env = bucket
    for month in ("2025-12", "2026-01", "2026-02"):
        (tmp_path / "s" / month).mkdir(parents=True)
        _sales(int(month[-2:])).to_parquet(tmp_path / "s" / month / "part-0.parquet", index=False)
    (tmp_path / "s" / "2026-01" / "notes.txt").write_text("not data")
    _upload_tree(client, env["bucket"], tmp_path / "s", "sales")
    data = load_dataset(_dataset(uri=f"s3://{env['bucket']}/sales/2026-*/part-*.parquet"), env=env)
    assert data.rows == 12
    with pytest.raises(DataError, match="matches no objects"):
        load_dataset(_dataset(uri=f"s3://{env['bucket']}/sales/2027-*/*.parquet"), env=env)
    with pytest.raises(DataError, match=r"does not exist \(end a prefix with '/'\)"):
        load_dataset(_dataset(uri=f"s3://{env['bucket']}/sales"), env=env)


def test_the_s3_probe_signal_is_over_every_objects_etag(tmp_path, bucket):
    client, env = bucket
    _write_partitioned(tmp_path / "sales")
    _upload_tree(client, env["bucket"], tmp_path / "sales", "p")
    dataset = _dataset(uri=f"s3://{env['bucket']}/p/")
    first = signals_of(dataset, env)
    assert first["parts"] == "4"
    # Same size, other content: only the ETag tells.
    frame = _sales(2025)
    frame.loc[0, "amount"] = frame.loc[0, "amount"] + 1
    frame.to_parquet(tmp_path / "changed.parquet", index=False)
    client.fput_object(
        env["bucket"], "p/year=2025/part-0.parquet", str(tmp_path / "changed.parquet")
    )
    changed = signals_of(dataset, env)
    assert changed["parts"] == "4" and changed["listing"] != first["listing"]


def test_an_s3_data_set_over_the_limit_is_refused_from_its_listing(tmp_path, bucket):
    client, env = bucket
    _write_partitioned(tmp_path / "sales")
    _upload_tree(client, env["bucket"], tmp_path / "sales", "big")
    with pytest.raises(DataError, match=r"is .* in 4 parts, more than the trainer loads"):
        load_dataset(
            _dataset(uri=f"s3://{env['bucket']}/big/"),
            env={**env, names.ENV_DATASET_MAX_BYTES: "100"},
        )
