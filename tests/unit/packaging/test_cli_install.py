"""`pip install modelpilot` is the CLI alone: every verb a person runs against a cluster works
with the base dependencies, and the verbs that run a component say which extra they need.

The development virtualenv holds every extra, so the CLI is run here in a child Python where
any module of a distribution outside the base dependencies (and what they pull in) fails to
import, exactly as it would be missing after a plain `pip install modelpilot`. Lazy imports
inside the verbs are exercised by running them, not only by importing their modules.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from test_extras import _name, _with_dependencies  # type: ignore[import-not-found]

REPO = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
CLI = REPO / "operator" / "modelpilot" / "cli"
PEOPLES_VERBS = ("status", "retrain", "promote", "abort", "rollback", "version")

# Installs a finder that refuses every top-level module of a distribution the base install
# would not have, and hides those distributions' metadata, then runs the snippet appended.
_GUARD = """
import importlib.abc, importlib.metadata, json, sys
BLOCKED = set(json.loads(sys.argv[1]))
BASE = set(json.loads(sys.argv[2]))
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the base install)",
                                      name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
_version = importlib.metadata.version
def version(name):
    import re
    if re.sub(r"[-_.]+", "-", name).lower() not in BASE | {"modelpilot"}:
        raise importlib.metadata.PackageNotFoundError(name)
    return _version(name)
importlib.metadata.version = version
"""


def _base_distributions() -> set[str]:
    return _with_dependencies({_name(r) for r in PYPROJECT["dependencies"]})


def _blocked_modules() -> list[str]:
    base = _base_distributions()
    blocked = set()
    for module, dists in importlib.metadata.packages_distributions().items():
        if module in sys.stdlib_module_names or module.startswith("_") or module == "modelpilot":
            continue
        if not {_name(d) for d in dists} & base:
            blocked.add(module)
    assert {"kopf", "sklearn", "fastapi", "numpy", "pandas", "prometheus_client"} <= blocked
    return sorted(blocked)


def _run(snippet: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            _GUARD + textwrap.dedent(snippet),
            json.dumps(_blocked_modules()),
            json.dumps(sorted(_base_distributions())),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
            "HOME": str(tmp_path),
        },
    )


def test_the_guard_really_refuses_a_component_dependency(tmp_path: Path) -> None:
    res = _run("import kopf\n", tmp_path)
    assert res.returncode == 1 and "not in the base install" in res.stderr


def test_every_cli_module_imports_with_the_base_dependencies_only(tmp_path: Path) -> None:
    modules = sorted(
        f"modelpilot.cli.{p.stem}"
        for p in CLI.glob("*.py")
        if p.stem not in ("__init__", "__main__")
    )
    # and what the verbs import when they run: the cluster client they share with the operator
    modules += ["modelpilot.operator.cluster", "modelpilot.operator.errors"]
    res = _run(
        f"""
        import importlib
        for name in {modules!r}:
            importlib.import_module(name)
        print("imported", len({modules!r}))
    """,
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "imported" in res.stdout


@pytest.mark.parametrize("verb", PEOPLES_VERBS)
def test_each_verbs_help_runs_with_the_base_dependencies_only(verb: str, tmp_path: Path) -> None:
    res = _run(
        f"""
        from modelpilot.cli.main import main
        try:
            main([{verb!r}, "--help"])
        except SystemExit as exit:
            sys.exit(exit.code)
    """,
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "usage:" in res.stdout


def test_version_without_a_cluster_prints_the_client_and_why_not_the_operator(
    tmp_path: Path,
) -> None:
    res = _run(
        """
        from modelpilot.cli.main import main
        sys.exit(main(["version"]))
    """,
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    client, operator = res.stdout.splitlines()
    assert client == f"client:   {importlib.metadata.version('modelpilot')}"
    assert operator.startswith("operator: unknown (ConfigException: ")


@pytest.mark.parametrize(
    ("verb", "extra"),
    [
        ("serve", "serving"),
        ("train", "trainer"),
        ("operator", "operator"),
    ],
)
def test_a_component_verb_names_the_extra_it_needs(verb: str, extra: str, tmp_path: Path) -> None:
    res = _run(
        f"""
        from modelpilot.cli.main import main
        sys.exit(main([{verb!r}]))
    """,
        tmp_path,
    )
    assert res.returncode == 2, res.stderr
    assert f"pip install 'modelpilot[{extra}]'" in res.stderr


@pytest.mark.parametrize("extra", ["operator", "serving", "trainer"])
def test_with_every_extra_installed_no_verb_is_refused(extra: str) -> None:
    from modelpilot.cli.extras import missing_requirements

    assert missing_requirements(extra) == []


def test_kubectl_finds_the_cli_as_a_plugin() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kubectl-modelpilot"] == scripts["modelpilot"] == "modelpilot.cli.main:main"
