"""The version's copies: where they are, whether they agree, and how a release bumps them.

pyproject.toml's `version` is the one source. Python reads it back through the installed
metadata (modelpilot.api.version); Helm and kustomize cannot, so the chart and manifests/
hold copies, listed here once. `python hack/release/version.py` checks them;
`python hack/release/version.py X.Y.Z` rewrites the source and every copy (make release
does that); tests/unit/packaging/test_version.py fails when one differs.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = REPO / "pyproject.toml"
# SemVer without build metadata: what Helm accepts as a chart version and an OCI tag allows.
VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")
_V = r"(?P<v>[0-9A-Za-z.+-]+)"


@dataclass(frozen=True)
class Copy:
    """One place a tool reads the version from; `pattern`'s group `v` is the copy."""

    path: str
    pattern: str
    count: int = 1  # how many times it must match: a copy that vanished is an error too

    def versions(self) -> list[str]:
        text = (REPO / self.path).read_text()
        return [m.group("v") for m in re.finditer(self.pattern, text, flags=re.MULTILINE)]


COPIES = (
    Copy("pyproject.toml", rf'^version = "{_V}"$'),
    Copy("charts/modelpilot/Chart.yaml", rf"^version: {_V}$"),
    Copy("charts/modelpilot/Chart.yaml", rf'^appVersion: "{_V}"$'),
    Copy(
        "manifests/operator/deployment.yaml",
        rf"ghcr\.io/modelpilot/(?:operator|trainer|serving):{_V}$",
        count=3,
    ),
    Copy("manifests/default/kustomization.yaml", rf"app\.kubernetes\.io/version: {_V}$"),
)


def source_version() -> str:
    return str(tomllib.loads(PYPROJECT.read_text())["project"]["version"])


def mismatches() -> list[str]:
    """Every copy that differs from pyproject's version, or is missing, as a sentence."""
    want = source_version()
    problems = []
    for copy in COPIES:
        found = copy.versions()
        if len(found) != copy.count:
            problems.append(
                f"{copy.path}: expected {copy.count} match(es) of "
                f"{copy.pattern!r}, found {len(found)}"
            )
        problems += [f"{copy.path}: {v} (pyproject.toml says {want})" for v in found if v != want]
    return problems


def set_version(new: str) -> None:
    if not VERSION_RE.match(new):
        raise ValueError(f"version {new!r} is not SemVer MAJOR.MINOR.PATCH[-PRERELEASE]")
    for copy in COPIES:
        path = REPO / copy.path
        text = re.sub(
            copy.pattern,
            lambda m: (
                m.group(0)[: m.start("v") - m.start()] + new + m.group(0)[m.end("v") - m.start() :]
            ),
            path.read_text(),
            flags=re.MULTILINE,
        )
        path.write_text(text)


def main(argv: list[str]) -> int:
    if argv[:1] == ["check-semver"]:  # release.sh --test: a version it may publish
        if VERSION_RE.match(argv[1]):
            return 0
        print(f"version: {argv[1]!r} is not SemVer MAJOR.MINOR.PATCH[-PRERELEASE]", file=sys.stderr)
        return 2
    if argv:
        try:
            set_version(argv[0])
        except ValueError as error:
            print(f"version: {error}", file=sys.stderr)
            return 2
    problems = mismatches()
    for problem in problems:
        print(f"version: {problem}", file=sys.stderr)
    if not problems:
        print(source_version())
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
