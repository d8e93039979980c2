"""Release notes come from CHANGELOG.md: a release cuts [Unreleased], its notes are its section."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "hack"))
from release.notes import ChangelogError, cut, section  # noqa: E402

URL = "https://github.com/modelpilot/modelpilot"
BEFORE = """# Changelog

Intro.

## [Unreleased]

### Added
- A kubectl plugin.

## [0.1.0] - 2026-11-30

### Added
- The operator.

[Unreleased]: https://github.com/modelpilot/modelpilot/compare/v0.1.0...HEAD
[0.1.0]: https://github.com/modelpilot/modelpilot/releases/tag/v0.1.0
"""


def test_cut_releases_unreleased_under_a_fresh_empty_one() -> None:
    after = cut(BEFORE, "0.2.0", date(2026, 12, 6), repo_url=URL)
    assert section(after, "Unreleased") == ""
    assert section(after, "0.2.0") == "### Added\n- A kubectl plugin."
    assert section(after, "0.1.0") == "### Added\n- The operator."
    assert "## [0.2.0] - 2026-12-06" in after
    assert after.endswith(
        f"[Unreleased]: {URL}/compare/v0.2.0...HEAD\n"
        f"[0.2.0]: {URL}/compare/v0.1.0...v0.2.0\n"
        f"[0.1.0]: {URL}/releases/tag/v0.1.0\n"
    )


def test_the_first_release_links_to_its_tag() -> None:
    first = BEFORE.split("## [0.1.0]")[0].rstrip() + "\n"
    after = cut(first, "0.1.0", date(2026, 12, 6), repo_url=URL)
    assert f"[0.1.0]: {URL}/releases/tag/v0.1.0\n" in after


@pytest.mark.parametrize(
    ("text", "version", "message"),
    [
        pytest.param(BEFORE, "0.1.0", "already has a section", id="version-already-released"),
        pytest.param(
            BEFORE.replace("- A kubectl plugin.\n", ""),
            "0.2.0",
            "lists no change",
            id="nothing-to-release",
        ),
        pytest.param(
            "# Changelog\n", "0.2.0", "no section ## \\[Unreleased\\]", id="no-unreleased"
        ),
    ],
)
def test_cut_refuses_by_name(text: str, version: str, message: str) -> None:
    with pytest.raises(ChangelogError, match=message):
        cut(text, version, date(2026, 12, 6), repo_url=URL)


def test_the_projects_changelog_has_notes_to_release() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    assert "- " in section(text, "Unreleased")
    cut(text, "9.9.9", date(2026, 12, 6), repo_url=URL)  # would cut without complaint
