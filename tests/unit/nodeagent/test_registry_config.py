"""The registry beside each local cluster (hack/localcluster/registry.py): its own loopback
port and storage per cluster index, and a containerd hosts.toml that pulls from it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from localcluster import registry


@pytest.mark.parametrize("index", [0, 5, 15])
def test_each_cluster_has_its_own_loopback_registry_and_storage(index: int, tmp_path: Path):
    cfg = yaml.safe_load(registry.config(tmp_path, index))
    assert cfg["http"]["addr"] == f"127.0.0.1:{5100 + index}"
    root = Path(cfg["storage"]["filesystem"]["rootdirectory"])
    assert root == tmp_path / f"registry-{index}"
    assert not root.is_relative_to(tmp_path / f"cluster-{index}"), "outlives cluster-down"


def test_registry_ports_do_not_meet_the_other_per_index_ports():
    ports = {registry.port(i) for i in range(16)}
    others = {
        p
        for i in range(16)
        for p in (2379 + 10 * i, 2380 + 10 * i, 6443, 10250, 10257 + 100 * i, 10259 + 100 * i)
    }
    assert len(ports) == 16 and not ports & others


def test_containerd_pulls_from_it_over_plain_http(tmp_path: Path):
    path = registry.write_hosts(tmp_path / "certs.d", 5)
    assert path == tmp_path / "certs.d" / "127.0.0.1:5105" / "hosts.toml"
    hosts = tomllib.loads(path.read_text())
    assert hosts["server"] == "http://127.0.0.1:5105"
    assert hosts["host"]["http://127.0.0.1:5105"]["capabilities"] == ["pull", "resolve"]


def test_nothing_answers_on_a_registry_port_that_is_not_running():
    assert registry.healthy(15, timeout=0.5) is False


def test_the_clusters_containerd_reads_its_registry_config_where_the_hosts_toml_goes(
    tmp_path: Path,
):
    from localcluster import realnode
    from localcluster.cluster import Layout

    lay = Layout(cache=tmp_path, k8s_version="v1.37.2", index=5)
    cfg = tomllib.loads(realnode.containerd_config(lay))
    config_path = cfg["plugins"]["io.containerd.cri.v1.images"]["registry"]["config_path"]
    assert config_path == str(realnode.registries_dir(lay))
    hosts = registry.write_hosts(Path(config_path), lay.index)
    assert hosts.parent.parent == realnode.registries_dir(lay)
    assert hosts.parent.name == registry.address(5)


def test_cluster_up_exports_the_registry_as_the_release_default(tmp_path: Path):
    from localcluster.__main__ import exports
    from localcluster.cluster import Layout

    lines = exports(Layout(cache=tmp_path, k8s_version="v1.37.2", index=7)).splitlines()
    assert "export MODELPILOT_REGISTRY=127.0.0.1:5107" in lines
    assert lines[0].startswith("export KUBECONFIG=")
