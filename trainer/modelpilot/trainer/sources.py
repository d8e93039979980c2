"""Where a data set's bytes are: the parts of a file, a directory, a prefix or a glob.

A data set is one file or many parts (Spark/Hive output, a day per file): a local path or a
path inside spec.training.dataset.pvc's claim (a file, a directory, or a glob), or an S3
object, a prefix ending in '/', or a glob (s3://bucket/sales/2026-*/part-*.parquet). This
module only *lists*: it finds the parts, in one order (sorted by name, so the loaded frame
and its fingerprint never depend on the order a file system or a bucket lists them), with
their sizes and ETags/mtimes. The trainer checks the total size against its limit before it
reads a byte (modelpilot.trainer.datasize), and the data probe compares the listing's digest
with the previous one (the cheap signal of a data set of many parts).

Globs match one '/' segment per pattern segment, as a shell's do: `2026-*` never matches
`2026-01/extra`. In a directory or below a prefix, names starting with '_' or '.' are not
data (_SUCCESS, _metadata, .crc files), as pyarrow's datasets skip them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from modelpilot.api import names, s3
from modelpilot.api.spec import Dataset
from modelpilot.trainer.errors import DataError

_GLOB = set("*?[")


@dataclass(frozen=True)
class Part:
    """One file or object of a data set."""

    name: str  # relative to the data set's base ('' for a single file): the sort key
    location: str  # a local path, or the object's key
    size: int
    stamp: str  # mtime_ns of a file, the ETag of an object


@dataclass(frozen=True)
class Source:
    """A data set's parts, listed once."""

    where: str  # as people read it: the URI, or pvc://CLAIM/PATH
    parts: tuple[Part, ...]
    bucket: str | None = None  # the S3 bucket; None for local files
    single: bool = False  # one file or object named exactly (not a directory, prefix, glob)

    @property
    def total_bytes(self) -> int:
        return sum(p.size for p in self.parts)

    def signals(self) -> dict[str, str]:
        """The data probe's cheap signal: unchanged signals mean unchanged data."""
        if self.single:
            [part] = self.parts
            stamp = "etag" if self.bucket is not None else "mtime"
            return {"size": str(part.size), stamp: part.stamp}
        listing = hashlib.sha256()
        for part in self.parts:
            listing.update(f"{part.name}\x00{part.size}\x00{part.stamp}\x00".encode())
        return {
            "parts": str(len(self.parts)),
            "size": str(self.total_bytes),
            "listing": listing.hexdigest(),
        }


def has_glob(text: str) -> bool:
    return any(c in _GLOB for c in text)


def matches(pattern: str, name: str) -> bool:
    """`name` matches `pattern` segment by segment ('*' never crosses a '/')."""
    wanted, got = pattern.split("/"), name.split("/")
    return len(wanted) == len(got) and all(
        fnmatch.fnmatchcase(g, w) for w, g in zip(wanted, got, strict=True)
    )


def _hidden(relative: str) -> bool:
    return any(segment.startswith(("_", ".")) for segment in relative.split("/"))


def _split_glob(path: str) -> tuple[str, str]:
    """('sales', '2026-*/part-*.parquet'): the directories before the first wildcard, and
    the pattern below them."""
    segments = path.split("/")
    first = next(i for i, s in enumerate(segments) if has_glob(s))
    return "/".join(segments[:first]), "/".join(segments[first:])


def local_path(dataset: Dataset, env: dict[str, str] | None = None) -> tuple[str, str]:
    """(path on this filesystem, how people name it) of a dataset.uri or dataset.pvc."""
    if dataset.pvc is not None:
        base = (env if env is not None else os.environ).get(
            names.ENV_DATASET_DIR, names.DATASET_MOUNT_PATH
        )
        return f"{base.rstrip('/')}/{dataset.pvc.path}", dataset.location
    assert dataset.uri is not None
    uri = dataset.uri
    return uri.removeprefix("file://"), uri


def list_local(path: str, where: str) -> Source:
    """The files of a local file, directory or glob."""
    if has_glob(path):
        base, pattern = _split_glob(path)
        root = Path(base or "/")
        if not root.is_dir():
            raise DataError(f"dataset {where} does not exist ({root} is not a directory)")
        found = [
            (rel, file)
            for rel, file in _walk(root)
            if matches(pattern, rel) and not _hidden(rel.rsplit("/", 1)[-1])
        ]
    elif os.path.isdir(path):
        found = [(rel, file) for rel, file in _walk(Path(path)) if not _hidden(rel)]
    else:
        try:
            stat = os.stat(path)
        except FileNotFoundError as exc:
            raise DataError(f"dataset {where} does not exist") from exc
        part = Part(name="", location=path, size=stat.st_size, stamp=str(stat.st_mtime_ns))
        return Source(where=where, parts=(part,), single=True)
    parts = []
    for rel, file in sorted(found):
        stat = file.stat()
        parts.append(Part(rel, str(file), stat.st_size, str(stat.st_mtime_ns)))
    if not parts:
        raise DataError(f"dataset {where} matches no files")
    return Source(where=where, parts=tuple(parts))


def _walk(root: Path) -> list[tuple[str, Path]]:
    out = []
    for directory, _, files in os.walk(root):
        for name in files:
            file = Path(directory) / name
            out.append((file.relative_to(root).as_posix(), file))
    return out


def parse_location(uri: str) -> tuple[str, str]:
    """`s3://bucket/key-or-prefix-or-glob` -> (bucket, key); DataError when no bucket."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise DataError(f"dataset {uri} names no object, prefix or glob (s3://BUCKET/KEY)")
    return bucket, key


def list_s3(client: object, uri: str) -> Source:
    """The objects of an s3:// object, prefix (ending in '/') or glob."""
    bucket, key = parse_location(uri)
    try:
        if has_glob(key):
            base, pattern = _split_glob(key)
            prefix = f"{base}/" if base else ""
            listed = s3.list_objects(client, bucket, prefix)
            chosen = [
                (o.key[len(prefix) :], o)
                for o in listed
                if matches(pattern, o.key[len(prefix) :]) and not _hidden(o.key.rsplit("/", 1)[-1])
            ]
        elif key.endswith("/"):
            listed = s3.list_objects(client, bucket, key)
            chosen = [(o.key[len(key) :], o) for o in listed if not _hidden(o.key[len(key) :])]
        else:
            signals = s3.signals(client, bucket, key)
            part = Part("", key, int(signals["size"]), signals["etag"])
            return Source(where=uri, parts=(part,), bucket=bucket, single=True)
    except s3.ObjectNotFound as exc:
        hint = "" if has_glob(key) or key.endswith("/") else " (end a prefix with '/')"
        raise DataError(f"dataset {uri} does not exist{hint} ({exc})") from exc
    except s3.ObjectStoreError as exc:
        raise DataError(f"cannot read dataset {exc}") from exc
    if not chosen:
        raise DataError(f"dataset {uri} matches no objects")
    parts = tuple(Part(rel, o.key, o.size, o.etag) for rel, o in chosen)
    return Source(where=uri, parts=parts, bucket=bucket)
