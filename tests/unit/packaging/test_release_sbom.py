"""Each released image ships a CycloneDX SBOM read from the packages installed in it
(hack/release/sbom.py): the image's own virtualenv and dpkg database, never this process's."""

from __future__ import annotations

import json
from pathlib import Path

from release import sbom

DIGEST = "sha256:" + "d" * 64
STATUS = """Package: python3.11-minimal
Status: install ok installed
Version: 3.11.2-6+deb12u6
Architecture: amd64

Package: removed-thing
Status: deinstall ok config-files
Version: 1.0

Package: tzdata
Status: install ok installed
Version: 2025b-0+deb12u1
"""


def image_root(tmp_path: Path) -> Path:
    """A root filesystem with two distributions in /opt/modelpilot's venv and a dpkg status."""
    site = tmp_path / "opt" / "modelpilot" / "lib" / "python3.11" / "site-packages"
    for name, version, licence in (
        ("scikit_learn", "1.6.1", "BSD-3-Clause"),
        ("modelpilot", "0.1.0", "Apache-2.0"),
    ):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
            f"License: {licence}\n"
        )
    dpkg = tmp_path / "var" / "lib" / "dpkg"
    dpkg.mkdir(parents=True)
    (dpkg / "status").write_text(STATUS)
    return tmp_path


def test_the_sbom_lists_the_images_python_and_debian_packages(tmp_path: Path, capsys) -> None:
    root = image_root(tmp_path)
    assert (
        sbom.main([str(root), "r/modelpilot/serving", "0.1.0", DIGEST, "2026-12-06T00:00:00Z"]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.5"
    purls = [c["purl"] for c in doc["components"]]
    assert purls == [
        "pkg:deb/debian/python3.11-minimal@3.11.2-6%2Bdeb12u6",
        "pkg:deb/debian/tzdata@2025b-0%2Bdeb12u1",
        "pkg:pypi/modelpilot@0.1.0",
        "pkg:pypi/scikit-learn@1.6.1",
    ], "deinstalled packages and this process's own distributions are not listed"
    licences = {c["name"]: c.get("licenses") for c in doc["components"]}
    assert licences["scikit-learn"] == [{"expression": "BSD-3-Clause"}]
    image = doc["metadata"]["component"]
    assert image["type"] == "container" and image["version"] == "0.1.0"
    assert image["hashes"] == [{"alg": "SHA-256", "content": "d" * 64}]


def test_two_sboms_of_one_image_are_the_same_bytes(tmp_path: Path, capsys) -> None:
    root = image_root(tmp_path)
    args = [str(root), "r/modelpilot/serving", "0.1.0", DIGEST, "2026-12-06T00:00:00Z"]
    sbom.main(args)
    first = capsys.readouterr().out
    sbom.main(args)
    assert capsys.readouterr().out == first


def test_a_root_without_packages_is_refused_by_name(tmp_path: Path, capsys) -> None:
    assert sbom.main([str(tmp_path), "r/x", "0.1.0", DIGEST, "2026-12-06T00:00:00Z"]) == 1
    assert f"no packages found under {tmp_path}" in capsys.readouterr().err
