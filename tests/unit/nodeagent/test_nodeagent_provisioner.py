"""The volume provisioner of the services agent: a claim gets a PersistentVolume bound to it."""

from __future__ import annotations

from nodeagent.provisioner import volume_for_claim


def test_provisioned_volume_is_prebound_to_its_claim(tmp_path) -> None:
    pvc = {
        "metadata": {"name": "models", "namespace": "ml", "uid": "abc"},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "2Gi"}}},
    }
    sc = {"metadata": {"name": "standard"}, "reclaimPolicy": "Delete"}
    pv = volume_for_claim(pvc, storage_class=sc, root=tmp_path)
    assert pv["metadata"]["name"] == "pvc-abc"
    assert pv["spec"]["claimRef"] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": "ml",
        "name": "models",
        "uid": "abc",
    }
    assert pv["spec"]["hostPath"]["path"] == str(tmp_path / "pvc-abc")
    assert pv["spec"]["capacity"] == {"storage": "2Gi"}
    assert pv["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pv["spec"]["storageClassName"] == "standard"
