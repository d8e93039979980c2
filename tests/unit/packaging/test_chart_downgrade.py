"""The chart refuses `helm upgrade` to a version older than the operator running now.

The guard reads the running operator Deployment's app.kubernetes.io/version through Helm's
`lookup`, which answers nothing under `helm template`; so this renders a copy of the chart
whose lookup is replaced by a value holding that Deployment (tests/e2e/test_release_install.py
runs the real lookup against a real release). Needs the pinned helm (`make k8s-bin`): skipped
without it, failed under MODELPILOT_REQUIRE_TOOLS=1 as `make test` sets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("MODELPILOT_CACHE") or Path.home() / ".cache" / "modelpilot")
K8S_VERSION = next(
    line.partition("=")[2].strip()
    for line in (ROOT / "hack" / "k8s" / "versions.env").read_text().splitlines()
    if line.startswith("K8S_VERSION=")
)
HELM = CACHE / "k8s" / K8S_VERSION / "bin" / "helm"
LOOKUP = 'lookup "apps/v1" "Deployment" .Release.Namespace (include "modelpilot.operatorName" .)'
CHART_VERSION = next(
    line.partition(":")[2].strip().strip('"')
    for line in (ROOT / "charts" / "modelpilot" / "Chart.yaml").read_text().splitlines()
    if line.startswith("appVersion:")
)


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HELM.exists():
        if os.environ.get("MODELPILOT_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{HELM} is not built (make k8s-bin)")
        pytest.skip(f"{HELM} is not built (make k8s-bin)")
    copy = tmp_path_factory.mktemp("chart") / "modelpilot"
    shutil.copytree(ROOT / "charts" / "modelpilot", copy)
    (copy / "values.schema.json").unlink()  # the stand-in value is not in the schema
    template = copy / "templates" / "deployment.yaml"
    text = template.read_text()
    assert text.count(LOOKUP) == 1, "the guard's lookup changed: update this test"
    template.write_text(text.replace(LOOKUP, ".Values.runningOperator"))
    return copy


def render(chart: Path, running: dict | None, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [] if running is None else ["--set-json", f"runningOperator={json.dumps(running)}"]
    return subprocess.run(
        [str(HELM), "template", "modelpilot", str(chart), *args, *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def running(version: str) -> dict:
    return {"metadata": {"labels": {"app.kubernetes.io/version": version}}}


def test_an_upgrade_to_an_older_version_is_refused_naming_both(chart: Path) -> None:
    result = render(chart, running("99.0.0"))
    assert result.returncode != 0
    assert (
        f"modelpilot 99.0.0 is running; installing the older {CHART_VERSION} is a downgrade"
        in result.stderr
    )
    assert "allowDowngrade=true" in result.stderr


@pytest.mark.parametrize(
    "operator",
    [None, running(CHART_VERSION), running("0.0.1"), {"metadata": {}}],
    ids=["fresh-install", "same-version", "upgrade", "unlabelled-deployment"],
)
def test_installs_upgrades_and_reinstalls_render(chart: Path, operator: dict | None) -> None:
    result = render(chart, operator)
    assert result.returncode == 0, result.stderr


def test_allow_downgrade_lets_it_through(chart: Path) -> None:
    result = render(chart, running("99.0.0"), "--set", "allowDowngrade=true")
    assert result.returncode == 0, result.stderr
