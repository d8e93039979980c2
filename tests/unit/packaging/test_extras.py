"""Each image installs the distribution with one extra (`pip install ".[operator]"`), so every
third-party module a component imports when it starts must come from the base dependencies
or that extra. The development virtualenv has all extras at once and would never notice a
gap; the operator image once crashed on start with `No module named 'prometheus_client'`.

Module-level imports only: an import inside a function is a deliberate lazy one (the bundle
code imports joblib only where a model is loaded, which the operator never does).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0]).lower()


def _with_dependencies(names: set[str]) -> set[str]:
    """The distributions pip installs for `names`: theirs and their requirements' (fastapi
    brings starlette), without optional extras."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return seen


def _module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        nodes = [node]
        if isinstance(node, ast.If | ast.Try):  # `if TYPE_CHECKING:` blocks are not run
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            nodes = list(ast.walk(node))
        for n in nodes:
            if isinstance(n, ast.Import):
                found.update(a.name.split(".")[0] for a in n.names)
            elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                found.add(n.module.split(".")[0])
    return found


@pytest.mark.parametrize("component", ["operator", "serving", "trainer", "cli"])
def test_every_module_level_import_is_installed_by_the_components_extra(component: str) -> None:
    """`cli` is `pip install modelpilot` with no extra: the CLI's modules and the contract."""
    allowed = {_name(r) for r in PYPROJECT["dependencies"]}
    if component != "cli":
        allowed |= {_name(r) for r in PYPROJECT["optional-dependencies"][component]}
    allowed = _with_dependencies(allowed)
    root = "operator" if component == "cli" else component  # the CLI ships beside the operator
    sources = [
        *(REPO / root / "modelpilot").rglob("*.py"),
        *(REPO / "api" / "modelpilot").rglob("*.py"),
    ]
    if component == "operator":
        sources = [p for p in sources if "cli" not in p.parts] + [
            REPO / "operator" / "modelpilot" / "cli" / "main.py"
        ]
    if component == "cli":
        sources = [p for p in sources if "operator" not in p.parts[len(REPO.parts) + 1 :]]
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for path in sources:
        for module in _module_level_imports(path):
            if module in sys.stdlib_module_names or module in ("modelpilot", "__future__"):
                continue
            dists = {_name(d) for d in distributions.get(module, [module])}
            if not dists & allowed:
                missing.setdefault(module, []).append(str(path.relative_to(REPO)))
    assert not missing, f"{component} imports modules its extra does not install: {missing}"
