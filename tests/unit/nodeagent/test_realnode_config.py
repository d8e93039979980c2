"""The real node's configuration (hack/localcluster/realnode.py): each cluster index gets its
own containerd, CNI network, kubelet cgroup root and addresses, and the settings this machine
needs (cgroup v1, no CAP_SYS_RESOURCE, images that cannot be pulled again) are in place."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from localcluster import realnode
from localcluster.__main__ import main as localcluster_main
from localcluster.cluster import Layout, cluster_index
from nodeagent.__main__ import parse as parse_agent_args


def layout(index: int, tmp_path: Path) -> Layout:
    return Layout(
        cache=tmp_path,
        k8s_version="v1.37.2",
        index=index,
        bridge=f"mp{index}",
        bridge_ip=f"10.244.{index}.1",
        pod_cidr=f"10.244.{index}.0/24",
        service_cidr=f"10.{96 + index}.0.0/16",
    )


@pytest.mark.parametrize("index", [0, 5], ids=["ci-cluster", "second-cluster"])
def test_containerd_is_the_clusters_own_and_never_lowers_oom_score(index, tmp_path):
    lay = layout(index, tmp_path)
    cfg = tomllib.loads(realnode.containerd_config(lay))
    assert cfg["version"] == 3
    assert cfg["grpc"]["address"] == str(lay.dir / "containerd" / "containerd.sock")
    assert cfg["root"].startswith(str(lay.dir))
    runtime = cfg["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True
    assert runtime["cni"]["conf_dir"] == str(lay.dir / "cni" / "net.d")
    runc = runtime["containerd"]["runtimes"]["runc"]["options"]
    assert runc["BinaryName"] == str(lay.bin / "runc")
    assert cfg["plugins"]["io.containerd.grpc.v1.cri"]["stream_server_address"] == "127.0.0.1"
    images = cfg["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == realnode.PAUSE_IMAGE


def test_pods_get_addresses_on_the_clusters_own_bridge_and_range(tmp_path):
    lay = layout(5, tmp_path)
    bridge, portmap = realnode.cni_config(lay)["plugins"]
    assert bridge["bridge"] == "mp5" and bridge["ipMasq"] is False
    (subnet,) = bridge["ipam"]["ranges"][0]
    assert subnet["subnet"] == "10.244.5.0/24" and subnet["gateway"] == "10.244.5.1"
    assert portmap["type"] == "portmap"


def test_kubelet_fits_this_machine_and_never_collects_imported_images(tmp_path):
    cfg = realnode.kubelet_config(layout(5, tmp_path))
    assert cfg["address"] == "10.244.5.1"
    assert cfg["cgroupRoot"] == "/modelpilot-5"
    assert cfg["failCgroupV1"] is False and cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["clusterDNS"] == ["10.244.5.1"]
    assert cfg["imageGCHighThresholdPercent"] == 100
    assert cfg["containerRuntimeEndpoint"].endswith("cluster-5/containerd/containerd.sock")


def test_release_names_alias_the_dev_images_but_not_pause():
    (alias,) = realnode.release_aliases("serving")
    assert alias.startswith("ghcr.io/modelpilot/serving:")
    assert realnode.release_aliases("pause") == ()


@pytest.mark.parametrize("value", ["0", "15"])
def test_cluster_indexes_whose_service_range_stays_on_this_machine_are_taken(value):
    assert cluster_index(value) == int(value)


@pytest.mark.parametrize("value", ["16", "-1", "two", ""])
def test_an_index_outside_0_to_15_is_refused_naming_the_range(value):
    # 16 would give services 10.112.0.0/16, outside the 10.96.0.0/12 pinned to this machine.
    with pytest.raises(ValueError, match=r"MODELPILOT_CLUSTER_INDEX=.*0\.\.15"):
        cluster_index(value)


def test_localcluster_refuses_a_bad_index_with_exit_2_and_the_reason(monkeypatch, capsys):
    monkeypatch.setenv("MODELPILOT_CLUSTER_INDEX", "16")
    assert localcluster_main(["status"]) == 2
    assert "10.96.0.0/12" in capsys.readouterr().err


def test_the_services_agent_accepts_the_arguments_the_cluster_starts_it_with(tmp_path) -> None:
    lay = layout(3, tmp_path)
    _python, dash_m, module, *args = realnode.services_agent_argv(lay)
    assert (dash_m, module) == ("-m", "nodeagent")
    parsed = parse_agent_args(args)
    assert (parsed.bridge, parsed.bridge_ip, parsed.service_cidr) == (
        "mp3",
        "10.244.3.1",
        "10.99.0.0/16",
    )
    assert parsed.state_dir == lay.dir
