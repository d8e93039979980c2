"""docs/security.md says only what is tested (issue 21 §8): every test it names exists, and
every claim names one.

A test is named as `tests/PATH/test_x.py`, `tests/PATH/test_x.py::test_name` or, after the
same file was named in full, `test_x.py::test_name`; a name may end in `*` (every test of
that prefix) and carry a parametrize id (`[...]`). A bullet of the sections in
PER_CLAIM is one claim and names at least one test; each section in PER_SECTION (tables and
prose) names at least one; "What is not covered" names what no test shows, so it is exempt.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "security.md"
TESTS = ROOT / "tests"
PER_CLAIM = (
    "What the operator trusts, and why",
    "What a client of a serving pod can cost it",
)
PER_SECTION = (
    "Who may do what",
    "Platform policy: every setting and its default",
    "Pods the operator creates",
    "NetworkPolicy",
    "What the operator's ServiceAccount can and cannot do",
)
REFERENCE = re.compile(r"`((?:tests/[\w/]+/)?test_\w+\.py)(?:::([\w*]+)(?:\[[^\]`]*\])?)?`")


def references(text: str) -> list[tuple[str, str | None]]:
    """(file as written, test name or None) for every test `text` names."""
    return [(m.group(1), m.group(2)) for m in REFERENCE.finditer(text)]


def sections(text: str) -> dict[str, str]:
    """Heading (## or ###) -> the text under it, up to the next heading."""
    out: dict[str, str] = {}
    title = ""
    for line in text.splitlines():
        heading = re.match(r"#{2,3} (.+)", line)
        if heading:
            title = heading.group(1).strip()
            out[title] = ""
        elif title:
            out[title] += line + "\n"
    return out


def bullets(section: str) -> list[str]:
    """The top-level bullets of a section, each with its continuation lines."""
    out: list[str] = []
    for line in section.splitlines():
        if line.startswith("- "):
            out.append(line)
        elif out and line.startswith("  ") and line.strip():
            out[-1] += "\n" + line
        elif not line.strip() and out:
            out.append("")  # a blank line ends a bullet
    return [b for b in out if b]


def defined_tests(path: Path) -> set[str]:
    """Every test function and method a test file defines."""
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def resolve(file: str) -> list[Path]:
    """The test files a reference can mean: its path, or by bare file name every match."""
    if file.startswith("tests/"):
        return [ROOT / file]
    return sorted(TESTS.rglob(file))


def missing(refs: list[tuple[str, str | None]]) -> list[str]:
    """The references among `refs` that name no existing file or test."""
    problems = []
    for file, name in refs:
        paths = [p for p in resolve(file) if p.is_file()]
        if not paths:
            problems.append(f"{file}: no such test file")
            continue
        if len(paths) > 1:
            problems.append(f"{file}: names {len(paths)} files; write its path")
            continue
        if name is not None and not fnmatch.filter(defined_tests(paths[0]), name):
            problems.append(f"{file}::{name}: no such test in {paths[0].relative_to(ROOT)}")
    return problems


def test_every_test_the_security_page_names_exists() -> None:
    refs = references(DOC.read_text())
    assert len(refs) >= 20, refs  # the parser still finds what the page names
    assert missing(refs) == []


def test_every_claim_names_a_test() -> None:
    parts = sections(DOC.read_text())
    for title in PER_CLAIM + PER_SECTION:
        assert title in parts, f"docs/security.md has no section {title!r}"
    unnamed = [
        f"{title}: {claim.splitlines()[0][:80]}"
        for title in PER_CLAIM
        for claim in bullets(parts[title])
        if not references(claim)
    ]
    unnamed += [
        f"{title}: the whole section" for title in PER_SECTION if not references(parts[title])
    ]
    assert unnamed == []


# -- the checker itself, on pages made up here -------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("`tests/unit/no_such_dir/test_nothing.py`", "no such test file"),
        ("`tests/unit/packaging/test_security_doc.py::test_that_never_was`", "no such test"),
        ("`test_security_doc.py::test_nothing_*`", "no such test"),
        ("`test_nowhere_at_all.py::test_x`", "no such test file"),
    ],
)
def test_a_renamed_or_removed_test_is_caught(text: str, problem: str) -> None:
    [found] = missing(references(text))
    assert problem in found


def test_the_forms_the_page_uses_are_read() -> None:
    text = (
        "(`tests/unit/packaging/test_security_doc.py::test_every_claim_names_a_test`, "
        "`test_security_doc.py::test_a_renamed_or_removed_test_is_caught[x]`, "
        "`tests/unit/packaging/test_security_doc.py::test_every_*`, "
        "`tests/unit/packaging/test_security_doc.py`)"
    )
    refs = references(text)
    assert [name for _, name in refs] == [
        "test_every_claim_names_a_test",
        "test_a_renamed_or_removed_test_is_caught",
        "test_every_*",
        None,
    ]
    assert missing(refs) == []


def test_a_claim_without_a_test_is_caught() -> None:
    page = (
        "## What a client of a serving pod can cost it\n\n"
        "- **Memory.** Bounded\n  (`tests/unit/packaging/test_security_doc.py`).\n"
        "- **Time.** Bounded too, says no test.\n"
    )
    claims = bullets(sections(page)["What a client of a serving pod can cost it"])
    assert [bool(references(c)) for c in claims] == [True, False]
