"""A CycloneDX SBOM for one released image, read from the packages installed in it.

`python -m release.sbom ROOTFS IMAGE VERSION DIGEST CREATED` (PYTHONPATH=hack) prints the
SBOM of the image whose root filesystem is mounted at ROOTFS (release.sh mounts the image it
just pushed with `buildah mount`). Two sources, the ones a scanner would read too:

- the Python distributions in the image's virtualenvs (`*/site-packages/*.dist-info`, through
  importlib.metadata pointed at that folder, never at this process's own packages);
- the Debian packages in dpkg's database (`var/lib/dpkg/status`).

Why not cyclonedx-bom or syft: the first reads the environment it runs in (the release's
virtualenv, not the image's), the second is a Go build of its own; what is needed here is a
list of names and versions, which the files above already hold. The output is deterministic
(components sorted, the timestamp the commit's, the serial number derived from the digest), so
two releases of one commit ship the same SBOM.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

SPEC_VERSION = "1.5"


@dataclass(frozen=True, order=True)
class Component:
    kind: str  # "pypi" or "deb": the purl type
    name: str
    version: str
    license: str | None = None

    @property
    def purl(self) -> str:
        name = self.name.lower().replace("_", "-") if self.kind == "pypi" else self.name
        namespace = "debian/" if self.kind == "deb" else ""
        return f"pkg:{self.kind}/{namespace}{quote(name)}@{quote(self.version)}"


def python_packages(rootfs: Path) -> list[Component]:
    """Every distribution installed in a site-packages folder of the image."""
    found = set()
    for site in sorted(rootfs.glob("opt/*/lib/python3*/site-packages")):
        for dist in importlib.metadata.distributions(path=[str(site)]):
            name = dist.metadata["Name"]
            if name:
                licence = dist.metadata.get("License-Expression") or dist.metadata.get("License")
                short = licence if licence and len(licence) <= 64 and "\n" not in licence else None
                found.add(Component("pypi", name, dist.version, short))
    return sorted(found)


def debian_packages(status_text: str) -> list[Component]:
    """The installed packages of a dpkg status file (stanzas whose Status ends installed)."""
    found = []
    for stanza in status_text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            found.append(Component("deb", fields["Package"], fields.get("Version", "")))
    return sorted(found)


def cyclonedx(
    *, image: str, version: str, digest: str, created: str, components: list[Component]
) -> dict:
    """The SBOM document (CycloneDX JSON) for image@digest."""
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"{image}@{digest}")

    def entry(c: Component) -> dict:
        out: dict = {
            "type": "library",
            "bom-ref": c.purl,
            "name": c.name,
            "version": c.version,
            "purl": c.purl,
        }
        if c.license:
            out["licenses"] = [{"expression": c.license}]
        return out

    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "timestamp": created,
            "component": {
                "type": "container",
                "bom-ref": f"{image}@{digest}",
                "name": image,
                "version": version,
                "hashes": [{"alg": "SHA-256", "content": digest.removeprefix("sha256:")}],
                "purl": f"pkg:oci/{image.rsplit('/', 1)[-1]}@{quote(digest)}"
                f"?repository_url={quote(image, safe='')}",
            },
        },
        "components": [entry(c) for c in sorted(set(components))],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print("usage: python -m release.sbom ROOTFS IMAGE VERSION DIGEST CREATED", file=sys.stderr)
        return 2
    rootfs, image, version, digest, created = argv
    root = Path(rootfs)
    status = root / "var" / "lib" / "dpkg" / "status"
    components = python_packages(root) + debian_packages(
        status.read_text() if status.exists() else ""
    )
    if not components:
        print(f"sbom: no packages found under {root}", file=sys.stderr)
        return 1
    doc = cyclonedx(
        image=image, version=version, digest=digest, created=created, components=components
    )
    print(json.dumps(doc, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
