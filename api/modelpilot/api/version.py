"""modelpilot's version at run time, and the image names that carry it.

The one source is `version` in pyproject.toml; an installed distribution (wheel, image,
editable install) answers with it through its metadata, so nothing here repeats the number.
The chart, manifests/ and the docs hold copies for the tools that read them (Helm,
kustomize); `hack/release/version.py X.Y.Z` rewrites them all and
tests/unit/packaging/test_version.py fails when one differs.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "modelpilot"
# Where a release's images are published unless the chart's values name another registry.
DEFAULT_IMAGE_REPOSITORY = "ghcr.io/modelpilot"
IMAGES = ("operator", "serving", "trainer")
UNKNOWN = "0+unknown"


def installed_version() -> str:
    """The installed distribution's version; UNKNOWN when run from a bare source tree."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN


def image(name: str, *, tag: str | None = None) -> str:
    """The released image for one component: ghcr.io/modelpilot/NAME:VERSION."""
    if name not in IMAGES:
        raise ValueError(f"unknown image {name!r}; modelpilot publishes {', '.join(IMAGES)}")
    return f"{DEFAULT_IMAGE_REPOSITORY}/{name}:{tag or installed_version()}"
