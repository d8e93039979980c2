"""`modelpilot prepare-store`: the training pod's init step — collect old bundles, make room.

Why a step of its own: the trainer container sees of the model store only its own
revision's directory (read-write) and the stable bundle (read-only), so a trainer that
unpickles the stable model and runs the tenant's estimator cannot touch any other bundle.
Garbage collection needs more: it deletes sibling revisions. So it runs first, in an init
container of the same pod that mounts STORE/NS/NAME (every incarnation of this one name,
nothing of other models), loads no model and reads no tenant data.

What it removes (`garbage`, a pure function of the directory listing):
- directories of earlier incarnations: NS/NAME/<uid> for a uid other than the owner's (a
  ModelDeployment deleted and created again; the old object and its pods are gone);
- revisions of this incarnation beyond the newest `keep_last` (the one being trained
  counts), unless the operator named
  them to keep (stable, candidate, canary, every revision in status.history) or it is the
  revision being trained;
- `.staging-*` directories a killed trainer left inside the revisions that stay.
Anything else (files, symlinks, a store laid out by hand, bundles of the pre-uid layout
NS/NAME/vN that an older operator's pods may still serve) is left alone. Then it creates
the revision's own directory and its prediction log directory
(STORE/NS/NAME/UID/predictions/vN), so their volume subPaths exist.

A failure to delete is reported and ignored: garbage collection must never fail training.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from modelpilot.api import names
from modelpilot.api.bundle import STAGING_PREFIX

DEFAULT_KEEP_LAST = 5
_UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_REVISION = re.compile(r"^v[1-9][0-9]*$")


def _dirs(path: Path) -> list[Path]:
    """Real directories directly below `path` (symlinks are never followed nor removed)."""
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())
    except FileNotFoundError:
        return []


def garbage_names(
    *,
    uids: Collection[str],
    revisions: Collection[str],
    owner_uid: str,
    revision: str,
    keep_last: int,
    keep: Collection[str],
) -> tuple[list[str], list[str]]:
    """(earlier incarnations' uids, this incarnation's revisions) to delete, given the names
    found below NS/NAME and NS/NAME/<owner_uid>. Shared by the PVC store (directories) and
    the S3 store (key prefixes, modelpilot.trainer.s3_store); anything not named like a uid
    or a revision is left alone."""
    stale_uids = sorted(u for u in uids if u != owner_uid and _UID.match(u))
    found = [r for r in revisions if _REVISION.match(r)]
    # The revision being trained counts among the newest K: K bundles remain after it.
    numbers = sorted(set(found) | {revision}, key=names.revision_number, reverse=True)
    kept = set(numbers[: max(keep_last, 1)]) | set(keep) | {revision}
    stale = sorted((r for r in found if r not in kept), key=names.revision_number)
    return stale_uids, stale


def garbage(
    model_dir: Path,
    *,
    owner_uid: str,
    revision: str,
    keep_last: int,
    keep: Collection[str],
) -> list[Path]:
    """What to delete below STORE/NS/NAME (see the module docstring), in a stable order."""
    revisions = {d.name: d for d in _dirs(model_dir / owner_uid)}
    stale_uids, stale = garbage_names(
        uids=[d.name for d in _dirs(model_dir)],
        revisions=list(revisions),
        owner_uid=owner_uid,
        revision=revision,
        keep_last=keep_last,
        keep=keep,
    )
    out: list[Path] = [model_dir / u for u in stale_uids]
    for name in sorted((r for r in revisions if _REVISION.match(r)), key=names.revision_number):
        if name in stale:
            out.append(revisions[name])
        else:
            out += [s for s in _dirs(revisions[name]) if s.name.startswith(STAGING_PREFIX)]
    return out


def prepare(output: Path, *, owner_uid: str, keep_last: int, keep: Collection[str]) -> list[Path]:
    """Collect garbage below output's model directory, then create `output`; returns what
    was removed. `output` is STORE/NS/NAME/<owner_uid>/vN."""
    if output.parent.name != owner_uid:
        raise ValueError(f"{output} is not a revision directory of ModelDeployment {owner_uid}")
    removed = []
    for path in garbage(
        output.parent.parent,
        owner_uid=owner_uid,
        revision=output.name,
        keep_last=keep_last,
        keep=keep,
    ):
        try:
            shutil.rmtree(path)
        except OSError as exc:
            print(f"prepare-store: cannot remove {path}: {exc}", file=sys.stderr, flush=True)
            continue
        removed.append(path)
    output.mkdir(parents=True, exist_ok=True)
    # The revision's prediction log directory (spec.monitoring.logging), made here by the
    # pods' own user, so its serving pods can write there through their subPath mount (a
    # subPath the kubelet has to create would be root's). Logs are kept when their revision's
    # bundle goes: they are training data (dataset.include [feedback]).
    (output.parent / names.PREDICTIONS_DIR / output.name).mkdir(parents=True, exist_ok=True)
    return removed


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    output = env.get(names.ENV_OUTPUT)
    owner_uid = env.get(names.ENV_OWNER_UID)
    if not output or not owner_uid:
        print(
            f"prepare-store: {names.ENV_OUTPUT} and {names.ENV_OWNER_UID} are required",
            file=sys.stderr,
        )
        return 2
    try:
        keep_last = int(env.get(names.ENV_KEEP_LAST) or DEFAULT_KEEP_LAST)
    except ValueError:
        print(f"prepare-store: {names.ENV_KEEP_LAST} must be an integer", file=sys.stderr)
        return 2
    keep = [r.strip() for r in (env.get(names.ENV_KEEP_REVISIONS) or "").split(",") if r.strip()]
    try:
        removed = prepare(Path(output), owner_uid=owner_uid, keep_last=keep_last, keep=keep)
    except (OSError, ValueError) as exc:
        print(f"prepare-store: {exc}", file=sys.stderr)
        return 1
    for path in removed:
        print(f"prepare-store: removed {path}", flush=True)
    print(f"prepare-store: {output} ready ({len(removed)} old directories removed)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
