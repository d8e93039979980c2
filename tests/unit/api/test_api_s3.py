"""spec.modelStore.s3 and s3:// datasets: the key layout, the spec's rules, the transfers
(against an in-memory S3 that behaves like one: missing keys, metadata, listing)."""

from __future__ import annotations

import hashlib
import io

import pytest
import urllib3
from api_samples import tiny_bundle
from minio.error import S3Error
from pydantic import ValidationError
from s3_memory import MemoryS3

from modelpilot.api import s3
from modelpilot.api.bundle import (
    METADATA_FILE,
    MODEL_FILE,
    BundleDigestMismatch,
    verify_bundle,
)
from modelpilot.api.spec import S3_DATASET_NEEDS_ACCESS, parse_spec

UID = "0b6f3c1e-1111-4222-8333-944455556666"


def test_bundle_keys_are_the_pvc_layout_below_the_prefix():
    location = s3.StoreLocation(bucket="models", prefix="team/mp/")
    assert location.bundle_key("ml", "iris", UID, "v3") == f"team/mp/ml/iris/{UID}/v3/"
    assert location.model_key("ml", "iris") == "team/mp/ml/iris/"
    assert s3.StoreLocation("models").bundle_key("ml", "iris", UID, "v1") == f"ml/iris/{UID}/v1/"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("s3://b/data/x.csv", ("b", "data/x.csv")), ("s3://b/x.parquet", ("b", "x.parquet"))],
)
def test_s3_uris_name_a_bucket_and_a_key(uri, expected):
    assert s3.parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["s3://bucket", "s3://bucket/", "s3://b/dir/", "file:///x.csv"])
def test_s3_uris_without_an_object_are_refused(uri):
    with pytest.raises(ValueError, match="s3"):
        s3.parse_s3_uri(uri)


def _spec(**store) -> dict:
    return {
        "training": {"dataset": {"builtin": "iris"}, "estimator": "sklearn.svm.SVC"},
        "evaluation": {"metric": "accuracy"},
        **({"modelStore": store} if store else {}),
    }


S3_STORE = {"bucket": "models", "credentialsSecret": "store-keys", "endpoint": "http://minio:9000"}


def test_a_model_store_is_exactly_one_of_pvc_or_s3():
    spec = parse_spec(_spec(s3=S3_STORE))
    assert spec.store_s3 is not None and spec.store_s3.bucket == "models"
    with pytest.raises(ValidationError, match="exactly one of pvc or s3"):
        parse_spec(_spec(s3=S3_STORE, pvc={"claimName": "models"}))
    with pytest.raises(ValidationError, match="exactly one of pvc or s3"):
        parse_spec({**_spec(), "modelStore": {}})


@pytest.mark.parametrize(
    "store",
    [
        {"bucket": "Models!", "credentialsSecret": "k"},
        {"bucket": "models", "credentialsSecret": "Not_A_Name"},
        {"bucket": "models", "credentialsSecret": "k", "endpoint": "minio:9000"},
        {"bucket": "models", "credentialsSecret": "k", "endpoint": "http://minio/path"},
        {"bucket": "models", "credentialsSecret": "k", "prefix": "/abs"},
    ],
    ids=["bad-bucket", "bad-secret", "no-scheme", "endpoint-path", "leading-slash"],
)
def test_bad_s3_stores_are_refused(store):
    with pytest.raises(ValidationError):
        parse_spec(_spec(s3=store))


def test_a_store_without_a_credentials_secret_takes_the_sdk_default_chain():
    """A cloud's workload identity (the pods' ServiceAccount) replaces the Secret: the pods
    are told to look where the AWS SDKs look, and never see a secretKeyRef."""
    spec = parse_spec(_spec(s3={"bucket": "models"}))
    assert spec.store_s3.credentials_secret is None
    env = s3.store_from_env({s3.ENV_S3_BUCKET: "models", s3.ENV_S3_CREDENTIALS: s3.DEFAULT_CHAIN})
    assert env is not None and env[1].default_chain
    # No variable at all stays anonymous access (a public bucket, moto in tests).
    assert not s3.store_from_env({s3.ENV_S3_BUCKET: "models"})[1].default_chain
    data = s3.data_endpoint_from_env({s3.ENV_DATA_S3_CREDENTIALS: s3.DEFAULT_CHAIN})
    assert data.default_chain


def test_an_s3_dataset_needs_credentials_its_own_or_the_stores():
    dataset = {"uri": "s3://data/iris.csv", "target": "species"}
    raw = _spec(pvc={"claimName": "models"})
    raw["training"]["dataset"] = dataset
    with pytest.raises(ValidationError, match="without S3 access"):
        parse_spec(raw)
    assert "credentialsSecret" in S3_DATASET_NEEDS_ACCESS
    raw["training"]["dataset"] = {**dataset, "s3": {"credentialsSecret": "data-keys"}}
    assert parse_spec(raw).dataset_s3.credentials_secret == "data-keys"
    shared = _spec(s3=S3_STORE)
    shared["training"]["dataset"] = dataset
    assert parse_spec(shared).dataset_s3.credentials_secret == "store-keys"
    builtin = parse_spec(_spec(s3=S3_STORE))
    assert builtin.dataset_s3 is None


def test_dataset_s3_applies_only_to_an_s3_uri():
    raw = _spec()
    raw["training"]["dataset"] = {"builtin": "iris", "s3": {"credentialsSecret": "k"}}
    with pytest.raises(ValidationError, match="only to an s3://"):
        parse_spec(raw)


def test_a_bundle_goes_up_with_its_digest_and_comes_down_verifiable(tmp_path):
    bundle, sha = tiny_bundle(tmp_path)
    store = MemoryS3()
    key = s3.StoreLocation("models", "p").bundle_key("ml", "iris", UID, "v1")
    assert not s3.bundle_exists(store, "models", key)
    s3.upload_bundle(store, bucket="models", key_prefix=key, bundle_dir=bundle, sha256=sha)
    assert s3.bundle_exists(store, "models", key)
    assert store.objects["models", key + MODEL_FILE][1] == {"sha256": sha}
    dest = tmp_path / "down" / "v1"
    s3.download_bundle(store, bucket="models", key_prefix=key, dest=dest)
    assert verify_bundle(dest, sha).model_sha256 == sha
    assert sorted(p.name for p in dest.iterdir()) == [METADATA_FILE, MODEL_FILE]


def test_a_tampered_object_downloads_but_fails_the_digest_before_unpickling(tmp_path):
    bundle, sha = tiny_bundle(tmp_path)
    store = MemoryS3()
    s3.upload_bundle(store, bucket="models", key_prefix="k/", bundle_dir=bundle, sha256=sha)
    store.objects["models", "k/" + MODEL_FILE] = (b"not the model", {"sha256": sha})
    s3.download_bundle(store, bucket="models", key_prefix="k/", dest=tmp_path / "d")
    with pytest.raises(BundleDigestMismatch, match="refusing"):
        verify_bundle(tmp_path / "d", sha)


def test_a_missing_bundle_or_bucket_is_named(tmp_path):
    store = MemoryS3()
    with pytest.raises(s3.ObjectNotFound, match=r"no bundle at s3://models/k/"):
        s3.download_bundle(store, bucket="models", key_prefix="k/", dest=tmp_path / "d")
    assert not list((tmp_path / "d").iterdir()), "no half-downloaded files are left"
    with pytest.raises(s3.ObjectNotFound, match="bucket does not exist"):
        s3.download_bundle(store, bucket="nope", key_prefix="k/", dest=tmp_path / "e")
    with pytest.raises(s3.ObjectNotFound, match="bucket nope does not exist"):
        s3.check_bucket(store, s3.StoreLocation("nope"))


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (S3Error(None, "InvalidAccessKeyId", "bad key", "/", "r", "h"), "access denied"),
        (S3Error(None, "SignatureDoesNotMatch", "bad", "/", "r", "h"), "credentials Secret"),
        (urllib3.exceptions.MaxRetryError(None, "/", "refused"), "cannot reach the endpoint"),
    ],
    ids=["wrong-key", "wrong-secret", "bad-endpoint"],
)
def test_store_failures_say_what_to_fix(exc, words):
    assert words in str(s3.explain(exc, "bucket models"))


def test_the_data_signals_are_size_etag_and_last_modified():
    store = MemoryS3()
    store.objects["models", "data/x.csv"] = (b"a,b\n1,2\n", {})
    found = s3.signals(store, "models", "data/x.csv")
    assert found == {
        "size": "8",
        "etag": hashlib.md5(b"a,b\n1,2\n").hexdigest(),
        "lastModified": "2026-11-28",
    }
    with pytest.raises(s3.ObjectNotFound):
        s3.signals(store, "models", "data/y.csv")


def test_listing_and_deleting_by_prefix():
    store = MemoryS3()
    for key in (
        "p/ml/iris/u1/v1/model.joblib",
        "p/ml/iris/u1/v2/model.joblib",
        "p/ml/iris/u2/v1/model.joblib",
    ):
        store.objects["models", key] = (b"x", {})
    assert s3.children(store, "models", "p/ml/iris/") == ["u1", "u2"]
    assert s3.children(store, "models", "p/ml/iris/u1/") == ["v1", "v2"]
    assert s3.delete_prefix(store, "models", "p/ml/iris/u1/") == 2
    assert [k for _, k in store.objects] == ["p/ml/iris/u2/v1/model.joblib"]


def test_the_pods_environment_gives_location_and_keys():
    env = {
        s3.ENV_S3_BUCKET: "models",
        s3.ENV_S3_PREFIX: "p",
        s3.ENV_S3_ENDPOINT: "http://h:9",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "MODELPILOT_DATA_AWS_ACCESS_KEY_ID": "data-id",
    }
    location, endpoint = s3.store_from_env(env)
    assert (location.bucket, location.prefix) == ("models", "p")
    assert (endpoint.endpoint, endpoint.access_key_id, endpoint.session_token) == (
        "http://h:9",
        "id",
        None,
    )
    assert s3.data_endpoint_from_env(env).access_key_id == "data-id"
    assert s3.store_from_env({}) is None


def test_an_endpoint_with_a_path_is_refused_before_connecting():
    with pytest.raises(s3.ObjectStoreError, match="not an http"):
        s3.client(s3.S3Endpoint(endpoint="http://h:9/sub"))


def test_memory_fake_read_matches_bytes():
    store = MemoryS3()
    store.objects["models", "k"] = (b"abc", {})

    class Body(io.BytesIO):
        def release_conn(self) -> None:
            pass

    store.get_object = lambda bucket, key: Body(store.objects[bucket, key][0])
    assert s3.read(store, "models", "k") == b"abc"


class Scoped(MemoryS3):
    """Keys allowed below a prefix only: asking about the bucket itself is denied."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def bucket_exists(self, bucket: str) -> bool:
        raise S3Error(None, self.code, "denied", bucket, "r", "h", bucket)


def test_keys_scoped_to_a_prefix_pass_the_bucket_check_but_wrong_keys_do_not():
    s3.check_bucket(Scoped("AccessDenied"), s3.StoreLocation("models"))
    with pytest.raises(s3.ObjectStoreError, match="access denied"):
        s3.check_bucket(Scoped("InvalidAccessKeyId"), s3.StoreLocation("models"))
