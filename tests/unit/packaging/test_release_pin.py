"""A release's chart values and manifests/ name the released images by digest."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "hack"))
from release.pin import PinError, chart_values, chart_version, manifests  # noqa: E402
from release.version import source_version  # noqa: E402

REGISTRY = "127.0.0.1:5005"
DIGESTS = {
    name: "sha256:" + c * 64 for name, c in (("operator", "a"), ("serving", "b"), ("trainer", "c"))
}


def test_the_charts_values_name_each_image_by_registry_version_and_digest() -> None:
    text = (REPO / "charts/modelpilot/values.yaml").read_text()
    pinned = yaml.safe_load(chart_values(text, registry=REGISTRY, version="1.2.3", digests=DIGESTS))
    for name, digest in DIGESTS.items():
        image = pinned["image"][name]
        assert (image["repository"], image["tag"], image["digest"]) == (
            f"{REGISTRY}/modelpilot/{name}",
            "1.2.3",
            digest,
        )
    assert pinned["image"]["operator"]["pullPolicy"] == "IfNotPresent"
    # Everything else, comments included, is untouched.
    untouched = text.split("imagePullSecrets:")[1]
    assert untouched in chart_values(text, registry=REGISTRY, version="1.2.3", digests=DIGESTS)


def test_manifests_name_each_image_by_version_and_digest() -> None:
    version = source_version()
    text = (REPO / "manifests/operator/deployment.yaml").read_text()
    pinned = manifests(text, registry=REGISTRY, version=version, digests=DIGESTS)
    assert "ghcr.io" not in pinned
    for name, digest in DIGESTS.items():
        assert f"{REGISTRY}/modelpilot/{name}:{version}@{digest}" in pinned


@pytest.mark.parametrize(
    ("digests", "message"),
    [
        pytest.param(
            {**DIGESTS, "serving": "sha256:abc"}, "serving: 'sha256:abc' is not", id="short-digest"
        ),
        pytest.param(
            {k: v for k, v in DIGESTS.items() if k != "trainer"},
            "need a digest for each",
            id="missing-image",
        ),
    ],
)
def test_bad_digests_are_refused_by_name(digests: dict[str, str], message: str) -> None:
    with pytest.raises(PinError, match=message):
        chart_values("", registry=REGISTRY, version="1.2.3", digests=digests)


def test_values_already_pinned_are_refused() -> None:
    text = (REPO / "charts/modelpilot/values.yaml").read_text()
    once = chart_values(text, registry=REGISTRY, version="1.2.3", digests=DIGESTS)
    with pytest.raises(PinError, match=r"no image\.operator block"):
        chart_values(once, registry=REGISTRY, version="1.2.3", digests=DIGESTS)


def test_a_test_release_pins_the_trees_manifests_under_a_later_version() -> None:
    text = (REPO / "manifests/operator/deployment.yaml").read_text()
    pinned = manifests(
        text, registry=REGISTRY, version="9.9.9", digests=DIGESTS, tree_version=source_version()
    )
    assert "ghcr.io" not in pinned
    for name, digest in DIGESTS.items():
        assert f"{REGISTRY}/modelpilot/{name}:9.9.9@{digest}" in pinned


def test_a_test_release_sets_the_charts_version_and_app_version() -> None:
    text = (REPO / "charts/modelpilot/Chart.yaml").read_text()
    chart = yaml.safe_load(chart_version(text, version="9.9.9"))
    assert (chart["version"], chart["appVersion"]) == ("9.9.9", "9.9.9")
    assert chart["name"] == "modelpilot"
    with pytest.raises(PinError, match="appVersion"):
        chart_version("name: x\n", version="9.9.9")
