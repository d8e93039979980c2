"""The chart's crds/ is the very CRD of manifests/crd: byte for byte, no file more or less.

Helm installs crds/ on first install only and never templates it, so a copy that drifted
would silently give chart users another API than kustomize users. `make gen-crd` regenerates both.
"""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
MANIFESTS_CRD = REPO / "manifests" / "crd"
CHART_CRDS = REPO / "charts" / "modelpilot" / "crds"


def _crd_files(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.glob("*.yaml"))
        if p.name != "kustomization.yaml"
    }


def test_chart_crds_are_byte_identical_to_manifests_crd() -> None:
    manifests, chart = _crd_files(MANIFESTS_CRD), _crd_files(CHART_CRDS)
    assert manifests, "manifests/crd holds no CRD yet (hack/gen_crd.py writes it)"
    assert sorted(chart) == sorted(manifests), "run `make gen-crd`"
    drifted = [name for name in manifests if chart[name] != manifests[name]]
    assert not drifted, f"charts/modelpilot/crds differs in {drifted}: run `make gen-crd`"


def test_kustomization_lists_every_crd_file() -> None:
    kustomization = yaml.safe_load((MANIFESTS_CRD / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(_crd_files(MANIFESTS_CRD))


def test_the_crd_is_the_modeldeployment_api() -> None:
    docs = [yaml.safe_load(b) for b in _crd_files(CHART_CRDS).values()]
    names = {d["metadata"]["name"] for d in docs}
    assert "modeldeployments.modelpilot.dev" in names
