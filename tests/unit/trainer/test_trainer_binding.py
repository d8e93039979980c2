"""A bundle belongs to the ModelDeployment (uid) and the spec (hash) that trained it.

The headline bug of issue 11: a ModelDeployment deleted and created again under the same
name, with another estimator, reused the bundle its predecessor left at the same path,
because only namespace, name and revision were compared.
"""

from __future__ import annotations

import pytest

from modelpilot.api.bundle import Binding, BundleNotBound, load_bundle, verify_bundle

OLD_UID = "11111111-1111-1111-1111-111111111111"
NEW_UID = "22222222-2222-2222-2222-222222222222"


def _bound(uid: str, spec_hash: str = "hash-a") -> tuple[str, ...]:
    return (
        "--owner-uid",
        uid,
        "--spec-hash",
        spec_hash,
        "--name",
        "iris",
        "--namespace",
        "ml",
        "--revision",
        "v1",
    )


def test_the_binding_is_recorded_in_metadata(train, iris_spec):
    run = train(iris_spec(), *_bound(OLD_UID))
    assert run.code == 0, run.stderr
    meta = load_bundle(run.output, run.summary.model_sha256).metadata
    assert (meta.owner_uid, meta.spec_hash) == (OLD_UID, "hash-a")


def test_a_bundle_of_another_uid_is_never_adopted(train, iris_spec, tmp_path):
    output = tmp_path / "store" / "ml" / "iris" / "v1"
    old = train(iris_spec(), *_bound(OLD_UID), output=output)
    assert old.code == 0, old.stderr
    # Same namespace, name and revision; another object, another estimator.
    new = train(
        iris_spec(estimator="sklearn.tree.DecisionTreeClassifier", params={}),
        *_bound(NEW_UID),
        output=output,
    )
    assert new.code == 3, new.stdout
    assert f"ModelDeployment uid {NEW_UID}" in new.stderr and "never adopted" in new.stderr
    assert new.summary.ok is False
    # ... and the old bundle was not overwritten either.
    assert load_bundle(output, old.summary.model_sha256).metadata.owner_uid == OLD_UID


def test_a_bundle_of_another_spec_hash_is_replaced_not_adopted(train, iris_spec, tmp_path):
    output = tmp_path / "store" / "ml" / "iris" / OLD_UID / "v1"
    first = train(iris_spec(), *_bound(OLD_UID, "hash-a"), output=output)
    again = train(
        iris_spec(estimator="sklearn.tree.DecisionTreeClassifier", params={}),
        *_bound(OLD_UID, "hash-b"),
        output=output,
    )
    assert again.code == 0 and "never adopted" in again.stdout
    meta = load_bundle(output, again.summary.model_sha256).metadata
    assert meta.spec_hash == "hash-b" and again.summary.model_sha256 != first.summary.model_sha256


def test_a_stable_bundle_of_another_uid_is_refused_before_training(train, iris_spec, tmp_path):
    stable = train(iris_spec(), *_bound(OLD_UID), output=tmp_path / "a" / "v1")
    run = train(
        iris_spec(),
        "--owner-uid",
        NEW_UID,
        "--revision",
        "v2",
        "--stable-dir",
        str(stable.output),
        "--stable-sha256",
        stable.summary.model_sha256,
        output=tmp_path / "b" / "v2",
    )
    assert run.code == 3 and "stable model" in run.stderr and NEW_UID in run.stderr


def test_readers_check_the_binding(train, iris_spec):
    run = train(iris_spec(), *_bound(OLD_UID))
    sha = run.summary.model_sha256
    assert verify_bundle(run.output, sha, binding=Binding(owner_uid=OLD_UID)).revision == "v1"
    with pytest.raises(BundleNotBound, match="never used"):
        load_bundle(run.output, sha, binding=Binding(owner_uid=NEW_UID))
    with pytest.raises(BundleNotBound):
        verify_bundle(run.output, sha, binding=Binding(owner_uid=OLD_UID, spec_hash="other"))
