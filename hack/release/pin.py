"""Pin a release's images by digest in the chart's values and in manifests/.

A release pushes the three images, learns their digests from the registry, and then
publishes a chart and manifests that name those digests: nodes pull exactly the bytes
that were released, whatever later happens to the tag. These functions rewrite the text of
the copies in the release's staging folder (never the repository's own files), keeping
every comment, and fail loudly when the text they expect is not there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

IMAGES = ("operator", "serving", "trainer")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


class PinError(ValueError):
    """A digest or the text to pin is not what a release expects; the message names it."""


def _check(digests: Mapping[str, str]) -> None:
    if sorted(digests) != sorted(IMAGES):
        raise PinError(f"need a digest for each of {', '.join(IMAGES)}, got {sorted(digests)}")
    for name, digest in digests.items():
        if not _DIGEST.match(digest):
            raise PinError(f"{name}: {digest!r} is not a sha256:<64 hex> digest")


def chart_values(text: str, *, registry: str, version: str, digests: Mapping[str, str]) -> str:
    """values.yaml with each image's repository in `registry`, its tag and its digest."""
    _check(digests)
    for name in IMAGES:
        pattern = re.compile(
            rf'^(  {name}:\n    repository: )\S+(\n    tag: )""(\n    digest: )""$', re.MULTILINE
        )
        text, count = pattern.subn(
            lambda m, n=name: (
                f"{m.group(1)}{registry}/modelpilot/{n}{m.group(2)}"
                f'"{version}"{m.group(3)}"{digests[n]}"'
            ),
            text,
        )
        if count != 1:
            raise PinError(f"values.yaml: no image.{name} block with empty tag and digest")
    return text


def manifests(
    text: str,
    *,
    registry: str,
    version: str,
    digests: Mapping[str, str],
    tree_version: str | None = None,
) -> str:
    """A manifests/ file with every released image as REGISTRY/modelpilot/NAME:VERSION@DIGEST
    (kustomize users see the version; the node pulls the digest). `tree_version`: the version
    the text names, when a test release publishes another (release.sh --test)."""
    _check(digests)
    named = re.escape(tree_version or version)
    pattern = re.compile(rf"ghcr\.io/modelpilot/({'|'.join(IMAGES)}):{named}\b")
    return pattern.sub(
        lambda m: f"{registry}/modelpilot/{m.group(1)}:{version}@{digests[m.group(1)]}", text
    )


def chart_version(text: str, *, version: str) -> str:
    """Chart.yaml with `version` and `appVersion` set to `version`: a test release
    (release.sh --test) publishes a later version of the same commit."""
    text, count = re.subn(r"^version: \S+$", f"version: {version}", text, flags=re.MULTILINE)
    text, app = re.subn(
        r'^appVersion: "[^"]*"$', f'appVersion: "{version}"', text, flags=re.MULTILINE
    )
    if (count, app) != (1, 1):
        raise PinError("Chart.yaml: expected one `version:` and one `appVersion:` line")
    return text
