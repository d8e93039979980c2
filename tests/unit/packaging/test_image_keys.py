"""hack/images/build.sh skips a build whose key it has recorded. The key must follow the
image's inputs (build context, base, Dockerfile) and nothing else: CI runs every time from a
fresh clone, and a key that named the clone's path rebuilt all three images each run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CONTEXT = ("pyproject.toml", "README.md", "LICENSE", "api", "operator", "serving", "trainer")


def checkout(where: Path) -> Path:
    """The script and the build context, copied to another place, as a second clone is."""
    (where / "hack" / "images").mkdir(parents=True)
    shutil.copy2(ROOT / "hack" / "images" / "build.sh", where / "hack" / "images" / "build.sh")
    for name in CONTEXT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, where / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        elif source.exists():
            shutil.copy2(source, where / name)
    return where


def keys(clone: Path, cache: Path) -> dict[str, str]:
    result = subprocess.run(
        ["bash", str(clone / "hack" / "images" / "build.sh"), "--keys"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "MODELPILOT_CACHE": str(cache)},
    )
    return dict(line.split() for line in result.stdout.splitlines())


def test_two_clones_at_different_paths_share_their_image_keys(tmp_path):
    first = keys(checkout(tmp_path / "ci-run-1" / "modelpilot"), tmp_path / "cache")
    second = keys(checkout(tmp_path / "elsewhere" / "mp"), tmp_path / "cache")
    assert set(first) == {"operator", "serving", "trainer"}
    assert first == second


def test_a_changed_dockerfile_or_source_file_changes_the_keys(tmp_path):
    clone = checkout(tmp_path / "clone")
    before = keys(clone, tmp_path / "cache")
    dockerfile = clone / "serving" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\n# changed\n")
    after_dockerfile = keys(clone, tmp_path / "cache")
    assert after_dockerfile["serving"] != before["serving"]
    (clone / "api" / "modelpilot" / "api" / "extra.py").write_text("X = 1\n")
    after_source = keys(clone, tmp_path / "cache")
    assert all(after_source[n] != after_dockerfile[n] for n in after_source)
