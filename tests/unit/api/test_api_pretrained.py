"""spec.training.pretrained's validation: what the operator's parse refuses, in words that
name the field, and the same rules as CEL in the CRD for `kubectl apply`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelpilot.api import spec as api
from modelpilot.api.spec import parse_spec

DIGEST = "0123456789abcdef" * 4


def raw(training: dict | None = None, **extra: object) -> dict:
    base = {
        "dataset": {"uri": "/models/data/x.csv", "target": "y"},
        "pretrained": {"uri": "/models/pretrained/m.joblib", "sha256": DIGEST},
    }
    return {
        "training": {**base, **(training or {})},
        "evaluation": {"metric": "accuracy"},
        **extra,
    }


def refused(spec: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_spec(spec)
    return str(caught.value)


def test_a_pretrained_spec_parses_and_its_digest_is_lower_case():
    parsed = parse_spec(
        raw({"pretrained": {"uri": "file:///models/p/m.pkl", "sha256": DIGEST.upper()}})
    )
    assert parsed.training.estimator is None
    assert parsed.training.pretrained.sha256 == DIGEST
    assert not parsed.training.pretrained.is_s3


@pytest.mark.parametrize(
    "sha256",
    ["abc", DIGEST + "0", DIGEST[:-1] + "g", " " + DIGEST[1:], ""],
    ids=["short", "long", "not-hex", "space", "empty"],
)
def test_the_digest_must_be_64_hex_characters(sha256):
    message = refused(raw({"pretrained": {"uri": "/models/p/m.pkl", "sha256": sha256}}))
    assert "spec.training.pretrained.sha256 must be a sha256 digest: 64 hexadecimal" in message


@pytest.mark.parametrize("uri", ["models/m.pkl", "https://example.com/m.pkl", "gs://b/m.pkl"])
def test_the_uri_is_a_store_path_or_s3(uri):
    assert "uri" in refused(raw({"pretrained": {"uri": uri, "sha256": DIGEST}}))


def test_an_estimator_and_a_pretrained_model_conflict():
    message = refused(raw({"estimator": "sklearn.svm.SVC"}))
    assert "spec.training needs exactly one of estimator or pretrained" in message


def test_neither_an_estimator_nor_a_pretrained_model_is_refused():
    spec = raw()
    del spec["training"]["pretrained"]
    assert "spec.training needs exactly one of estimator or pretrained" in refused(spec)


def test_params_and_preprocessing_belong_to_an_estimator_trained_here():
    assert "spec.training.params applies to an estimator trained here" in refused(
        raw({"params": {"C": 1}})
    )
    assert "spec.training.preprocessing applies to an estimator trained here" in refused(
        raw({"preprocessing": [{"transformer": "StandardScaler"}]})
    )


def test_an_s3_model_needs_the_s3_store_and_a_local_one_a_claim():
    s3_model = {"pretrained": {"uri": "s3://models/p/m.joblib", "sha256": DIGEST}}
    assert "spec.modelStore.s3 is not set" in refused(raw(s3_model))
    store = {"s3": {"bucket": "models"}}
    assert parse_spec(raw(s3_model, modelStore=store)).training.pretrained.is_s3
    assert "is a local path but spec.modelStore is an S3 bucket" in refused(raw(modelStore=store))


def test_the_crd_carries_the_same_rules():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    loader = importlib.util.spec_from_file_location("gen_crd", root / "hack" / "gen_crd.py")
    gen = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(gen)
    text = gen.render()
    for message in (
        api.PRETRAINED_BAD_SHA256,
        api.TRAINING_NEEDS_ONE_MODEL,
        "spec.training.params applies to an estimator trained here",
        "spec.training.pretrained.uri is an s3:// URI but spec.modelStore.s3 is not set",
    ):
        assert message.split(":")[0] in text
