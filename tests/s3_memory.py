"""An in-memory S3 for unit tests: the calls modelpilot.api.s3 makes (MinIO's SDK), answered
as a server does (NoSuchBucket/NoSuchKey errors, user metadata, delimiter listing)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from minio.error import S3Error


class MemoryS3:
    """The calls modelpilot.api.s3 makes, over a dict, answering as an S3 server does."""

    def __init__(self, buckets: tuple[str, ...] = ("models",)) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = {}
        self.buckets = set(buckets)

    def _missing(self, bucket: str, key: str) -> S3Error:
        code = "NoSuchBucket" if bucket not in self.buckets else "NoSuchKey"
        return S3Error(None, code, "not found", key, "r", "h", bucket, key)

    def bucket_exists(self, bucket: str) -> bool:
        return bucket in self.buckets

    def stat_object(self, bucket: str, key: str):
        if (bucket, key) not in self.objects:
            raise self._missing(bucket, key)
        data, meta = self.objects[bucket, key]

        class Stat:
            size = len(data)
            etag = hashlib.md5(data).hexdigest()
            last_modified = "2026-11-28"
            metadata = {f"x-amz-meta-{k}": v for k, v in meta.items()}

        return Stat()

    def fput_object(self, bucket, key, path, content_type="", metadata=None):
        if bucket not in self.buckets:
            raise self._missing(bucket, key)
        self.objects[bucket, key] = (Path(path).read_bytes(), dict(metadata or {}))

    def get_object(self, bucket, key):
        if (bucket, key) not in self.objects:
            raise self._missing(bucket, key)
        data = self.objects[bucket, key][0]

        class Response:
            def read(self) -> bytes:
                return data

            def close(self) -> None:
                pass

            def release_conn(self) -> None:
                pass

        return Response()

    def fget_object(self, bucket, key, path):
        if (bucket, key) not in self.objects:
            raise self._missing(bucket, key)
        Path(path).write_bytes(self.objects[bucket, key][0])

    def list_objects(self, bucket, prefix="", recursive=False):
        class Obj:
            def __init__(self, name: str, is_dir: bool) -> None:
                self.object_name, self.is_dir = name, is_dir

        seen = set()
        for b, key in sorted(self.objects):
            if b != bucket or not key.startswith(prefix):
                continue
            rest = key[len(prefix) :]
            if not recursive and "/" in rest:
                name = prefix + rest.split("/", 1)[0] + "/"
                if name not in seen:
                    seen.add(name)
                    yield Obj(name, True)
            else:
                yield Obj(key, False)

    def remove_objects(self, bucket, objects):
        for obj in objects:
            self.objects.pop((bucket, obj.name), None)
        return iter(())
