"""One version: pyproject.toml's. Every copy a tool reads (the chart's version and appVersion,
manifests/' image tags and label) and every value derived at run time (the operator's default
images, `modelpilot version`, the serving's server metadata) must say the same, or a release
would ship a chart whose images do not exist.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "hack"))
from release import version as release_version  # noqa: E402

from modelpilot.api.version import image, installed_version  # noqa: E402
from modelpilot.operator import settings  # noqa: E402


def test_every_copy_equals_pyprojects_version() -> None:
    assert release_version.mismatches() == []


def test_the_installed_metadata_is_pyprojects_version() -> None:
    # An editable install keeps the version it was installed with: reinstall after a bump.
    assert installed_version() == release_version.source_version(), "pip install -e . again"


def test_the_operators_default_images_carry_the_version() -> None:
    version = release_version.source_version()
    assert f"ghcr.io/modelpilot/trainer:{version}" == settings.DEFAULT_TRAINER_IMAGE
    assert f"ghcr.io/modelpilot/serving:{version}" == settings.DEFAULT_SERVING_IMAGE
    assert image("operator") == f"ghcr.io/modelpilot/operator:{version}"


def test_an_unknown_image_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown image 'web'"):
        image("web")


def _tracked_text_files() -> list[Path]:
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        [git, "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    skip = ("hack/k8s/", "tests/unit/")  # Go modules' own versions; tests' sample tags
    return [REPO / p for p in out if not p.startswith(skip) and (REPO / p).is_file()]


def test_no_released_image_is_named_with_another_version_anywhere() -> None:
    """A copy nobody listed in hack/release/version.py (a doc, a test, a script) is caught
    here: every `modelpilot/{operator,serving,trainer}:X.Y.Z` in the tree names this version."""
    version = release_version.source_version()
    pattern = re.compile(r"modelpilot[/-](?:operator|serving|trainer):(\d+\.\d+\.\d+\S*)")
    stale = []
    for path in _tracked_text_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        stale += [
            f"{path.relative_to(REPO)}: {m.group(0)}"
            for m in pattern.finditer(text)
            if m.group(1).rstrip("`'\",.)") != version
        ]
    assert stale == []


def test_set_version_rewrites_every_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for copy in release_version.COPIES:
        target = tmp_path / copy.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / copy.path, target)
    monkeypatch.setattr(release_version, "REPO", tmp_path)
    monkeypatch.setattr(release_version, "PYPROJECT", tmp_path / "pyproject.toml")
    release_version.set_version("2.3.4-rc.1")
    assert release_version.source_version() == "2.3.4-rc.1"
    assert release_version.mismatches() == []
    # ...and the check notices a copy left behind.
    chart = tmp_path / "charts/modelpilot/Chart.yaml"
    chart.write_text(chart.read_text().replace('appVersion: "2.3.4-rc.1"', 'appVersion: "2.3.3"'))
    assert release_version.mismatches() == [
        "charts/modelpilot/Chart.yaml: 2.3.3 (pyproject.toml says 2.3.4-rc.1)"
    ]


@pytest.mark.parametrize("bad", ["1.2", "v1.2.3", "1.2.3+build.5", "01.2.3"])
def test_set_version_refuses_what_helm_and_oci_tags_would_not_take(bad: str) -> None:
    with pytest.raises(ValueError, match="is not SemVer"):
        release_version.set_version(bad)


def test_the_distribution_is_named_modelpilot() -> None:
    assert importlib.metadata.metadata("modelpilot")["Name"] == "modelpilot"
