"""`modelpilot train --fingerprint-only`: the dataset's fingerprint, cheaply when possible.

Runs in the data probe Job (spec.training.dataset.watch). Cheap signals first — size and
mtime of a file, size/ETag/mtime from an object store's metadata — compared with the previous
report the operator passes in; only when they differ is the dataset loaded and hashed exactly
as training does (`LoadedData.sha256`), so the fingerprint compares with the
`training_data_sha256` of a revision.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from modelpilot.api import names
from modelpilot.api.fingerprint import ENV_DATA_PREVIOUS, DataProbeReport
from modelpilot.api.spec import Dataset
from modelpilot.trainer.datasets import list_source, load_dataset
from modelpilot.trainer.errors import TrainerError
from modelpilot.trainer.jobspec import read_spec


def signals_of(dataset: Dataset, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Size/mtime/ETag of the dataset's file or object, without reading its content; for a
    directory, prefix or glob, the count, total size and a digest of every part's name,
    size and mtime/ETag (modelpilot.trainer.sources)."""
    if dataset.uri is None and dataset.pvc is None:
        return {"builtin": str(dataset.builtin)}
    source = list_source(dataset, os.environ if env is None else env)
    if source is not None:
        return source.signals()
    import fsspec

    assert dataset.uri is not None
    fs, _, [target] = fsspec.get_fs_token_paths(dataset.uri)
    info = fs.info(target)
    keep = ("size", "ETag", "etag", "LastModified", "mtime", "last_modified")
    return {k: str(v) for k, v in info.items() if k in keep}


def probe(env: Mapping[str, str]) -> DataProbeReport:
    job = read_spec(text=env.get(names.ENV_SPEC_JSON))
    dataset = job.training.dataset
    previous = None
    if env.get(ENV_DATA_PREVIOUS):
        previous = DataProbeReport.model_validate_json(env[ENV_DATA_PREVIOUS])
    try:
        signals = signals_of(dataset, env)
    except TrainerError as exc:
        return DataProbeReport(ok=False, error=f"{exc.kind}: {exc}")
    except (OSError, ValueError, ImportError) as exc:
        return DataProbeReport(ok=False, error=f"cannot stat dataset {dataset.location}: {exc}")
    if previous is not None and previous.fingerprint and previous.signals == signals:
        return DataProbeReport(ok=True, fingerprint=previous.fingerprint, signals=signals)
    try:
        data = load_dataset(dataset, weight=job.training.sample_weight, env=env)  # as training does
    except TrainerError as exc:
        return DataProbeReport(ok=False, error=f"{exc.kind}: {exc}", signals=signals)
    return DataProbeReport(ok=True, fingerprint=data.sha256, signals=signals, hashed=True)


def main(env: Mapping[str, str]) -> int:
    """Print the report and write it as the termination message; exit 0 unless it failed."""
    try:
        report = probe(env)
    except TrainerError as exc:
        report = DataProbeReport(ok=False, error=f"{exc.kind}: {exc}")
    text = report.model_dump_json(exclude_none=True)
    print(text, flush=True)
    log = env.get(names.ENV_TERMINATION_LOG)
    if log:
        with open(log, "w") as handle:
            handle.write(text)
    return 0 if report.ok else 1
