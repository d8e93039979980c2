"""Release notes from CHANGELOG.md (Keep a Changelog): cut a release, read its section.

`cut` turns `## [Unreleased]` into `## [X.Y.Z] - DATE` under a fresh, empty
`## [Unreleased]`, and the link references at the bottom with it; `section` returns one
release's text, which is what a release publishes as its notes. A release with nothing
under [Unreleased] is refused: notes that say nothing are a release nobody can judge.
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"
_HEADING = re.compile(r"^## \[(?P<name>[^\]]+)\](?: - (?P<date>\S+))?\s*$", re.MULTILINE)
_LINK = re.compile(r"^\[(?P<name>[^\]]+)\]: (?P<url>\S+)\s*$", re.MULTILINE)


class ChangelogError(ValueError):
    """CHANGELOG.md cannot give this release's notes; the message says what to fix."""


def section(text: str, version: str) -> str:
    """The body of `## [version]` (without its heading), stripped."""
    headings = list(_HEADING.finditer(text))
    for i, heading in enumerate(headings):
        if heading.group("name") == version:
            end = headings[i + 1].start() if i + 1 < len(headings) else _end_of_sections(text)
            return text[heading.end() : end].strip()
    raise ChangelogError(f"CHANGELOG.md has no section ## [{version}]")


def cut(text: str, version: str, day: date, *, repo_url: str) -> str:
    """`text` with [Unreleased] released as `version` on `day`."""
    if any(h.group("name") == version for h in _HEADING.finditer(text)):
        raise ChangelogError(f"CHANGELOG.md already has a section ## [{version}]")
    unreleased = section(text, "Unreleased")
    if not re.search(r"^- ", unreleased, re.MULTILINE):
        raise ChangelogError("CHANGELOG.md's [Unreleased] section lists no change to release")
    previous = next(
        (h.group("name") for h in _HEADING.finditer(text) if h.group("name") != "Unreleased"), None
    )
    text = text.replace(
        "## [Unreleased]", f"## [Unreleased]\n\n## [{version}] - {day.isoformat()}", 1
    )
    links = {m.group("name"): m.group("url") for m in _LINK.finditer(text)}
    links["Unreleased"] = f"{repo_url}/compare/v{version}...HEAD"
    links[version] = (
        f"{repo_url}/compare/v{previous}...v{version}"
        if previous
        else f"{repo_url}/releases/tag/v{version}"
    )
    text = _LINK.sub("", text).rstrip() + "\n\n"
    order = ["Unreleased", version] + [n for n in links if n not in ("Unreleased", version)]
    return text + "".join(f"[{name}]: {links[name]}\n" for name in order)


def _end_of_sections(text: str) -> int:
    link = _LINK.search(text)
    return link.start() if link else len(text)


def main(argv: list[str]) -> int:
    """notes.py VERSION: print the notes; notes.py --cut VERSION DATE URL: release them."""
    try:
        if argv[:1] == ["--cut"]:
            version, day, url = argv[1:4]
            CHANGELOG.write_text(
                cut(CHANGELOG.read_text(), version, date.fromisoformat(day), repo_url=url)
            )
        else:
            print(section(CHANGELOG.read_text(), argv[0]))
    except ChangelogError as error:
        print(f"notes: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
