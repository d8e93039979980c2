"""The commands of a walkthrough page, as data: docs/own-data.md's `sh` blocks, read once by
the e2e test that runs them (tests/e2e/test_own_data.py) and by the unit test that checks them
against the example files and the API (tests/unit/packaging/test_own_data_doc.py), so the page
and what is tested cannot drift apart.

Each command is one of a few kinds the e2e test knows how to run; a command of any other kind
is an error here, so the page cannot grow a step that no test runs.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OWN_DATA = REPO / "docs" / "own-data.md"


@dataclass(frozen=True)
class Command:
    kind: str  # kubectl | modelpilot | port-forward | curl
    argv: tuple[str, ...]
    # curl only: the request's path (/v1/models/churn:predict) and JSON body.
    path: str | None = None
    body: Any = None


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def parse(line: str) -> Command:
    argv = tuple(shlex.split(line))
    if argv[:2] == ("kubectl", "port-forward"):
        return Command("port-forward", argv)
    if argv[0] == "kubectl":
        return Command("kubectl", argv)
    if argv[0] == "modelpilot":
        return Command("modelpilot", argv)
    if argv[0] == "curl":
        url = next(a for a in argv if a.startswith("http"))
        body = json.loads(argv[argv.index("-d") + 1]) if "-d" in argv else None
        path = "/" + url.split("://", 1)[1].split("/", 1)[1]
        return Command("curl", argv, path=path, body=body)
    raise ValueError(f"docs/own-data.md: no test runs {line!r}; teach tests/doc_commands.py")


def commands(page: Path = OWN_DATA) -> list[Command]:
    out = []
    for block in sh_blocks(page.read_text()):
        for line in block.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                out.append(parse(line.strip()))
    return out
