"""The trainer's side of spec.modelStore.s3: stable down before training, the bundle up after.

With an S3 store the training pod's store is a local emptyDir laid out as the PVC would be
(STORE/NS/NAME/UID/vN), so `run.train` works unchanged: before it runs, `fetch_inputs`
downloads the stable bundle into its directory; `train` then verifies the stable digest the
operator passed before unpickling anything, exactly as on a PVC. After it, `publish` puts the
new bundle in place of whatever lay at the revision's key (modelpilot.api.s3.upload_bundle:
digest in the object metadata, metadata.json last) and collects garbage.

Nothing found at the revision's own key is ever downloaded, adopted or read (issue 21): it is
either an attempt whose report the operator never recorded or planted by someone who can
write to the bucket. It is deleted and replaced by this run's bundle, whose digest is the one
reported; readers (`fetch-bundle`, the server) verify against that.

Garbage collection: the operator has no credentials, so it cannot delete in S3; the trainer
can, and it gets the same keep-list the PVC's prepare-store step gets (every revision status
names: stable, candidate, canary, history, a pin's revision among them). It deletes this
object's revisions beyond the newest keep_last that nobody names (`store.garbage_names`,
shared with the PVC), and nothing else. Unlike a PVC claim, a bucket is often shared: two
clusters' operators with the same bucket and prefix keep a ModelDeployment of the same
namespace and name under NS/NAME/<their own uid>/, and from inside a Job another uid there
is indistinguishable from a deleted incarnation of ours (issue 21 §7: on main each deleted
the other's live bundles). So other uids' prefixes are never touched; deleted incarnations'
bundles are left to the bucket's lifecycle rules (docs/model-store.md). A failure there is
reported and never fails training.

Every store problem is a DataError (stable, the bucket, the credentials) or a TrainingError
(the upload) whose message names the bucket and the cause, so it reaches status through the
training summary like any other trainer error.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelpilot.api import names
from modelpilot.api import s3 as objects
from modelpilot.trainer.errors import DataError, TrainingError
from modelpilot.trainer.settings import Settings
from modelpilot.trainer.store import DEFAULT_KEEP_LAST, garbage_names


@dataclass(frozen=True)
class RemoteStore:
    location: objects.StoreLocation
    client: Any

    def bundle_key(self, settings: Settings, revision: str) -> str:
        if not settings.owner_uid:
            raise DataError(
                f"an S3 model store needs {names.ENV_OWNER_UID} (the bundle layout "
                "is bound to the ModelDeployment's uid)"
            )
        return self.location.bundle_key(
            settings.namespace, settings.name, settings.owner_uid, revision
        )


def from_env(env: Mapping[str, str]) -> RemoteStore | None:
    found = objects.store_from_env(env)
    if found is None:
        return None
    location, endpoint = found
    return RemoteStore(location=location, client=objects.client(endpoint))


def fetch_inputs(settings: Settings, store: RemoteStore) -> None:
    """Check the bucket, then download stable's bundle (never this revision's own key)."""
    where = store.location.uri(store.location.key(""))
    try:
        objects.check_bucket(store.client, store.location)
    except objects.ObjectStoreError as exc:
        raise DataError(f"model store {where}: {exc}") from exc
    if settings.stable_dir is not None:
        key = store.bundle_key(settings, settings.stable_dir.name)
        try:
            objects.download_bundle(
                store.client,
                bucket=store.location.bucket,
                key_prefix=key,
                dest=settings.stable_dir,
            )
        except objects.ObjectStoreError as exc:
            raise DataError(f"stable model: {exc}") from exc


def publish(settings: Settings, store: RemoteStore, sha256: str) -> None:
    """Put the bundle in settings.output at the revision's key, in place of whatever lay
    there (never adopted: see the module docstring)."""
    key = store.bundle_key(settings, settings.revision)
    bucket = store.location.bucket
    try:
        removed = objects.delete_prefix(store.client, bucket, key)
        if removed:
            print(
                f"modelpilot train: removed unread {removed} objects that lay at "
                f"s3://{bucket}/{key} before this run: a bundle found there is never "
                "adopted",
                flush=True,
            )
        objects.upload_bundle(
            store.client,
            bucket=bucket,
            key_prefix=key,
            bundle_dir=settings.output,
            sha256=sha256,
        )
    except objects.ObjectStoreError as exc:
        raise TrainingError(str(exc)) from exc


def prune(settings: Settings, store: RemoteStore, env: Mapping[str, str]) -> list[str]:
    """Delete this object's unnamed old revisions; returns the key prefixes removed.
    Never raises: garbage collection must not fail training."""
    try:
        keep_last = int(env.get(names.ENV_KEEP_LAST) or DEFAULT_KEEP_LAST)
    except ValueError:
        keep_last = DEFAULT_KEEP_LAST
    keep = [r.strip() for r in (env.get(names.ENV_KEEP_REVISIONS) or "").split(",") if r.strip()]
    bucket, uid = store.location.bucket, settings.owner_uid
    if not uid:
        return []
    model_key = store.location.model_key(settings.namespace, settings.name)
    removed: list[str] = []
    try:
        # uids=(): only this object's own prefix is ours to collect (see the docstring).
        _, stale = garbage_names(
            uids=(),
            revisions=objects.children(store.client, bucket, f"{model_key}{uid}/"),
            owner_uid=uid,
            revision=settings.revision,
            keep_last=keep_last,
            keep=keep,
        )
        for prefix in [f"{model_key}{uid}/{r}/" for r in stale]:
            objects.delete_prefix(store.client, bucket, prefix)
            removed.append(f"s3://{bucket}/{prefix}")
    except objects.ObjectStoreError as exc:
        print(
            f"modelpilot train: garbage collection in the S3 store failed: {exc}",
            file=sys.stderr,
            flush=True,
        )
    return removed
