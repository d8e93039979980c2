"""Volume subPaths as the kubelet prepares them: created when missing, never outside."""

from __future__ import annotations

import os

import pytest
from nodeagent.plan import ConfigError
from nodeagent.volumes import ensure_subpaths


def container(*mounts: dict) -> dict:
    return {"name": "c", "volumeMounts": list(mounts)}


def test_a_missing_subpath_is_created_as_a_directory(tmp_path):
    volume = tmp_path / "pv"
    volume.mkdir(mode=0o750)
    ensure_subpaths(container({"name": "store", "mountPath": "/m", "subPath": "ml/iris/u/v1"}),
                    {"store": str(volume)}, {})
    assert (volume / "ml" / "iris" / "u" / "v1").is_dir()


def test_a_subpath_expr_is_expanded_from_the_environment(tmp_path):
    ensure_subpaths(container({"name": "v", "mountPath": "/m", "subPathExpr": "$(POD)/x"}),
                    {"v": str(tmp_path)}, {"POD": "p1"})
    assert (tmp_path / "p1" / "x").is_dir()


def test_a_subpath_through_a_symlink_out_of_the_volume_is_refused(tmp_path):
    volume, outside = tmp_path / "pv", tmp_path / "outside"
    volume.mkdir()
    outside.mkdir()
    os.symlink(outside, volume / "escape")
    with pytest.raises(ConfigError, match="outside the volume"):
        ensure_subpaths(container({"name": "v", "mountPath": "/m", "subPath": "escape/x"}),
                        {"v": str(volume)}, {})
    assert not (outside / "x").exists()


@pytest.mark.parametrize("sub", ["/abs", "a/../../b"])
def test_an_absolute_or_climbing_subpath_is_refused(tmp_path, sub):
    with pytest.raises(ConfigError, match="invalid subPath"):
        ensure_subpaths(container({"name": "v", "mountPath": "/m", "subPath": sub}),
                        {"v": str(tmp_path)}, {})
