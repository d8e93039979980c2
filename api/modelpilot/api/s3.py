"""Bundles and datasets in S3: the key layout, the pods' environment, and the transfers.

spec.modelStore.s3 keeps a revision's bundle at s3://BUCKET/PREFIX/NS/NAME/UID/vN/ — the
PVC store's layout (`names.bundle_subpath`) below a prefix, uid-bound the same way, so a
ModelDeployment deleted and created again never gets its predecessor's model. The trainer
writes the bundle locally as always (`bundle.write_bundle`) and uploads it, model.joblib
first (its sha256 in the object's metadata) and metadata.json last: as on a PVC, a bundle
is complete once metadata.json exists, and a complete one is never overwritten. Readers
(the serving pods' fetch-bundle step, the trainer's stable model) download both files into
a local directory and go through the same `verify_bundle`/`load_bundle` as on a PVC: the
digest the operator recorded is checked before anything is unpickled. Nothing downloaded
is trusted because of where it lay.

Who talks to S3: only pods. They get the Secret's standard keys (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, optionally AWS_SESSION_TOKEN) as environment variables through
secretKeyRef, plus the non-secret location below; the operator never reads the Secret.
Without a credentials Secret (a cloud's workload identity, e.g. EKS IRSA on the pods'
ServiceAccount) the operator sets MODELPILOT_S3_CREDENTIALS=default-chain instead, and the
client looks where the AWS SDKs look: AWS_* variables, a web identity token, the container
or instance metadata service. Anonymous access stays what no variable at all means.
An s3:// dataset's access comes in the same keys with the prefix MODELPILOT_DATA_ (it may be
another Secret, endpoint or region than the store's).

The client is MinIO's S3 SDK (any S3-compatible service: AWS, MinIO, Ceph, moto), imported
only when a transfer happens: this contract module stays importable where it is not
installed (the operator's image). Not boto3: botocore pins python-dateutil below 3 and the
kubernetes client needs 3 or later, and the local node's pods run in one virtualenv.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modelpilot.api import names
from modelpilot.api.bundle import METADATA_FILE, MODEL_FILE

# The store's location (non-secret), set on the trainer and the fetch-bundle step.
ENV_S3_BUCKET = "MODELPILOT_S3_BUCKET"
ENV_S3_PREFIX = "MODELPILOT_S3_PREFIX"
ENV_S3_ENDPOINT = "MODELPILOT_S3_ENDPOINT"
ENV_S3_REGION = "MODELPILOT_S3_REGION"
# An s3:// dataset's endpoint and region; its keys are the credentials' with this prefix.
DATA_ENV_PREFIX = "MODELPILOT_DATA_"
ENV_DATA_S3_ENDPOINT = f"{DATA_ENV_PREFIX}S3_ENDPOINT"
ENV_DATA_S3_REGION = f"{DATA_ENV_PREFIX}S3_REGION"
# No Secret: take credentials from the SDK's default chain (workload identity).
ENV_S3_CREDENTIALS = "MODELPILOT_S3_CREDENTIALS"
ENV_DATA_S3_CREDENTIALS = "MODELPILOT_DATA_S3_CREDENTIALS"  # DATA_ENV_PREFIX + the name
DEFAULT_CHAIN = "default-chain"
# The standard keys a credentials Secret holds (and the env variables they become).
KEY_ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
KEY_SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"
KEY_SESSION_TOKEN = "AWS_SESSION_TOKEN"  # optional
CREDENTIAL_KEYS = (KEY_ACCESS_KEY_ID, KEY_SECRET_ACCESS_KEY, KEY_SESSION_TOKEN)
SHA256_METADATA = "sha256"  # x-amz-meta-sha256 on model.joblib: the model's digest

# A bad endpoint must fail in seconds, with a message, not hang a pod for minutes.
_CONNECT_TIMEOUT = 5
_READ_TIMEOUT = 60
_ATTEMPTS = 3


class ObjectStoreError(Exception):
    """A transfer failed; the message names the bucket/key and the likely cause."""


class ObjectNotFound(ObjectStoreError):
    pass


@dataclass(frozen=True)
class S3Endpoint:
    """Where and as whom to connect (credentials None: anonymous)."""

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    default_chain: bool = False  # no keys given: AWS_* env, web identity, metadata service


@dataclass(frozen=True)
class StoreLocation:
    bucket: str
    prefix: str = ""

    def key(self, subpath: str) -> str:
        """The object key of `subpath` (NS/NAME/UID/vN/...) below the prefix."""
        prefix = self.prefix.strip("/")
        return f"{prefix}/{subpath}" if prefix else subpath

    def bundle_key(self, namespace: str, name: str, uid: str, revision: str) -> str:
        """The key prefix of a revision's bundle, ending in '/'."""
        return self.key(names.bundle_subpath(namespace, name, uid, revision)) + "/"

    def model_key(self, namespace: str, name: str) -> str:
        """The key prefix of every incarnation of one name (garbage collection looks here)."""
        return self.key(names.model_subpath(namespace, name)) + "/"

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key.csv` -> ("bucket", "some/key.csv"); ValueError otherwise."""
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ValueError(f"{uri!r} does not name an object (s3://BUCKET/KEY)")
    return bucket, key


def store_from_env(env: Mapping[str, str]) -> tuple[StoreLocation, S3Endpoint] | None:
    """The S3 model store the operator configured on this pod, or None (a PVC store)."""
    bucket = env.get(ENV_S3_BUCKET)
    if not bucket:
        return None
    location = StoreLocation(bucket=bucket, prefix=env.get(ENV_S3_PREFIX, ""))
    return location, _endpoint(env, "", env.get(ENV_S3_ENDPOINT), env.get(ENV_S3_REGION))


def data_endpoint_from_env(env: Mapping[str, str]) -> S3Endpoint:
    """How to reach an s3:// dataset: the MODELPILOT_DATA_ variables the operator sets."""
    return _endpoint(
        env, DATA_ENV_PREFIX, env.get(ENV_DATA_S3_ENDPOINT), env.get(ENV_DATA_S3_REGION)
    )


def _endpoint(
    env: Mapping[str, str], prefix: str, endpoint: str | None, region: str | None
) -> S3Endpoint:
    return S3Endpoint(
        endpoint=endpoint or None,
        region=region or None,
        access_key_id=env.get(prefix + KEY_ACCESS_KEY_ID) or None,
        secret_access_key=env.get(prefix + KEY_SECRET_ACCESS_KEY) or None,
        session_token=env.get(prefix + KEY_SESSION_TOKEN) or None,
        default_chain=env.get(ENV_DATA_S3_CREDENTIALS if prefix else ENV_S3_CREDENTIALS)
        == DEFAULT_CHAIN,
    )


def client(endpoint: S3Endpoint) -> Any:
    """An S3 client (MinIO's SDK) for `endpoint`, with short timeouts and few retries."""
    import urllib3
    from minio import Minio

    url = urlsplit(endpoint.endpoint or "https://s3.amazonaws.com")
    if url.scheme not in {"http", "https"} or not url.netloc or url.path.strip("/"):
        raise ObjectStoreError(
            f"endpoint {endpoint.endpoint!r} is not an http(s)://HOST[:PORT] URL"
        )
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=_CONNECT_TIMEOUT, read=_READ_TIMEOUT),
        retries=urllib3.Retry(
            total=_ATTEMPTS - 1, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)
        ),
    )
    credentials = None
    if endpoint.default_chain and endpoint.access_key_id is None:
        from minio.credentials.providers import ChainedProvider, EnvAWSProvider, IamAwsProvider

        credentials = ChainedProvider([EnvAWSProvider(), IamAwsProvider()])
    return Minio(
        url.netloc,
        credentials=credentials,
        access_key=endpoint.access_key_id,
        secret_key=endpoint.secret_access_key,
        session_token=endpoint.session_token,
        secure=url.scheme == "https",
        region=endpoint.region or None,
        http_client=http,
    )


_DENIED = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
}


def explain(exc: Exception, what: str) -> ObjectStoreError:
    """A person-readable ObjectStoreError for an S3 client failure on `what`."""
    from minio.error import S3Error

    if isinstance(exc, ObjectStoreError):
        return exc
    if isinstance(exc, S3Error):
        code, message = exc.code or "", exc.message or exc.code
        if code == "NoSuchBucket":
            return ObjectNotFound(f"{what}: the bucket does not exist")
        if code in {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}:
            return ObjectNotFound(f"{what}: no such object")
        if code in _DENIED:
            return ObjectStoreError(
                f"{what}: access denied ({code}: {message}); check the credentials Secret's "
                f"{KEY_ACCESS_KEY_ID}/{KEY_SECRET_ACCESS_KEY} and the bucket's policy"
            )
        return ObjectStoreError(f"{what}: {code}: {message}")
    import urllib3

    if isinstance(exc, urllib3.exceptions.HTTPError):
        reason = getattr(exc, "reason", None) or exc
        return ObjectStoreError(f"{what}: cannot reach the endpoint: {reason}")
    return ObjectStoreError(f"{what}: {type(exc).__name__}: {exc}")


def check_bucket(s3: Any, location: StoreLocation) -> None:
    """Fail early, and clearly, when the bucket is missing or the credentials are wrong.

    AccessDenied alone passes: keys scoped to a prefix may not be allowed to ask about the
    bucket (HeadBucket needs s3:ListBucket on all of it); the transfers then speak for
    themselves. Unknown keys or a bad signature are wrong credentials whatever the policy."""
    from minio.error import S3Error

    try:
        exists = s3.bucket_exists(location.bucket)
    except S3Error as exc:
        if exc.code == "AccessDenied":
            return
        raise explain(exc, f"bucket {location.bucket}") from exc
    except Exception as exc:
        raise explain(exc, f"bucket {location.bucket}") from exc
    if not exists:
        raise ObjectNotFound(f"bucket {location.bucket} does not exist")


def head(s3: Any, bucket: str, key: str) -> Any | None:
    """The object's stat (size, etag, last_modified, metadata), or None when it is absent."""
    try:
        return s3.stat_object(bucket, key)
    except Exception as exc:
        err = explain(exc, f"s3://{bucket}/{key}")
        if isinstance(err, ObjectNotFound) and "bucket" not in str(err):
            return None
        raise err from exc


def signals(s3: Any, bucket: str, key: str) -> dict[str, str]:
    """size/ETag/LastModified of an object: the data probe's cheap signal."""
    stat = head(s3, bucket, key)
    if stat is None:
        raise ObjectNotFound(f"s3://{bucket}/{key} does not exist")
    return {
        "size": str(stat.size),
        "etag": str(stat.etag or "").strip('"'),
        "lastModified": str(stat.last_modified),
    }


def read(s3: Any, bucket: str, key: str) -> bytes:
    response = None
    try:
        response = s3.get_object(bucket, key)
        body: bytes = response.read()
    except Exception as exc:
        raise explain(exc, f"s3://{bucket}/{key}") from exc
    finally:
        if response is not None:
            response.close()
            response.release_conn()
    return body


def bundle_exists(s3: Any, bucket: str, key_prefix: str) -> bool:
    """A complete bundle is there (its metadata.json, written last, exists)."""
    return head(s3, bucket, key_prefix + METADATA_FILE) is not None


def upload_bundle(s3: Any, *, bucket: str, key_prefix: str, bundle_dir: Path, sha256: str) -> None:
    """model.joblib (digest in its metadata), then metadata.json: complete only at the end."""
    try:
        s3.fput_object(
            bucket,
            key_prefix + MODEL_FILE,
            str(bundle_dir / MODEL_FILE),
            metadata={SHA256_METADATA: sha256},
        )
        s3.fput_object(
            bucket,
            key_prefix + METADATA_FILE,
            str(bundle_dir / METADATA_FILE),
            content_type="application/json",
            metadata={SHA256_METADATA: sha256},
        )
    except Exception as exc:
        raise explain(exc, f"uploading the bundle to s3://{bucket}/{key_prefix}") from exc


def download_bundle(s3: Any, *, bucket: str, key_prefix: str, dest: Path) -> None:
    """Both files into `dest`, metadata.json last and each through a temporary name, so a
    half-downloaded directory never looks like a bundle. Nothing is verified here: the
    caller verifies the digest it trusts before anything is unpickled."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, METADATA_FILE):
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=dest)
        os.close(fd)
        try:
            s3.fget_object(bucket, key_prefix + name, tmp)
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest / name)
        except Exception as exc:
            Path(tmp).unlink(missing_ok=True)
            err = explain(exc, f"s3://{bucket}/{key_prefix}{name}")
            if isinstance(err, ObjectNotFound) and "bucket" not in str(err):
                raise ObjectNotFound(
                    f"no bundle at s3://{bucket}/{key_prefix} ({name} is missing)"
                ) from exc
            raise err from exc


def children(s3: Any, bucket: str, key_prefix: str) -> list[str]:
    """Names of the 'directories' directly below key_prefix (which ends in '/')."""
    try:
        found = [
            o.object_name[len(key_prefix) :].rstrip("/")
            for o in s3.list_objects(bucket, prefix=key_prefix, recursive=False)
            if o.is_dir
        ]
    except Exception as exc:
        raise explain(exc, f"listing s3://{bucket}/{key_prefix}") from exc
    return sorted(found)


@dataclass(frozen=True)
class ObjectInfo:
    """One object of a listing: what a data set's parts and its cheap signals need."""

    key: str
    size: int
    etag: str


def list_objects(s3: Any, bucket: str, key_prefix: str) -> list[ObjectInfo]:
    """Every object below key_prefix (any prefix, '' for the whole bucket), by key."""
    try:
        found = [
            ObjectInfo(key=o.object_name, size=int(o.size or 0), etag=str(o.etag or "").strip('"'))
            for o in s3.list_objects(bucket, prefix=key_prefix, recursive=True)
            if not o.is_dir
        ]
    except Exception as exc:
        raise explain(exc, f"listing s3://{bucket}/{key_prefix}") from exc
    return sorted(found, key=lambda o: o.key)


def delete_prefix(s3: Any, bucket: str, key_prefix: str) -> int:
    """Delete every object below key_prefix (which ends in '/'); returns how many."""
    from minio.deleteobjects import DeleteObject

    try:
        keys = [o.object_name for o in s3.list_objects(bucket, prefix=key_prefix, recursive=True)]
        errors = list(s3.remove_objects(bucket, [DeleteObject(k) for k in keys]))
    except Exception as exc:
        raise explain(exc, f"deleting s3://{bucket}/{key_prefix}") from exc
    if errors:
        raise ObjectStoreError(
            f"deleting s3://{bucket}/{key_prefix}: {errors[0].code}: {errors[0].message}"
        )
    return len(keys)
