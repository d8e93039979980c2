"""What lies in a revision's directory before its own Job wrote there is never trusted.

Issue 21: the trainer used to adopt a complete bundle it found at its revision's place as
"an earlier attempt of this revision" and report its digest and recorded scores; the gate
passed on them and the serving pod unpickled it. Anyone who can write to the store could
plant one (a pickle runs code when loaded), and that includes whoever writes training data,
since a local dataset lies inside the store claim.

The rule now (docs/model-store.md, "What is trusted"): a training run never adopts a bundle.
Its Job's pod trains, writes its own bundle and reports that bundle's digest; the operator
records the digest from that report and every reader verifies the file against it before
unpickling. Whatever lay in the directory first — a planted bundle, or the bundle of an
attempt whose report the operator never read (a pod killed after writing) — is removed,
unread, so that the new bundle can take its place. Nothing here opens a file.

Only a directory that is this object's own (STORE/NS/NAME/<owner uid>/vN, the layout the
operator's Jobs use) is cleared. Anywhere else — run by hand without a uid, or the pre-uid
layout NS/NAME/vN that an older incarnation's pods may still serve — an output that is not
empty is refused instead, and left as it is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from modelpilot.api.bundle import STAGING_PREFIX
from modelpilot.trainer.errors import DataError


def _entries(output: Path) -> list[Path]:
    try:
        return sorted(output.iterdir())
    except FileNotFoundError:
        return []


def discard_untrusted(output: Path, *, owner_uid: str | None) -> list[str]:
    """Empty `output` (the revision directory, possibly a volume mount that cannot itself
    be removed); returns the names removed. Symlinks are removed, never followed."""
    found = _entries(output)
    names = [p.name for p in found]
    mine = owner_uid is not None and output.parent.name == owner_uid
    if not mine:
        # A killed attempt's staging directory is write_bundle's to clear, and holds no bundle.
        names = [n for n in names if not n.startswith(STAGING_PREFIX)]
    if not names:
        return []
    if not mine:
        raise DataError(
            f"output {output} is not empty ({', '.join(names[:5])}) and is not a revision "
            f"directory of ModelDeployment uid {owner_uid or '(none)'}; a bundle found there "
            "is never adopted, nor overwritten: remove it to train again"
        )
    for path in found:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError as exc:
            raise DataError(
                f"output {output} holds {path.name}, which this run did not write and cannot "
                f"remove ({exc}); a bundle found there is never adopted"
            ) from exc
    return names
