"""The chart's alerts: each has a runbook into docs/runbooks.md and a `promtool test rules` case.

promtool is built from the Go module proxy by hack/prometheus/build.sh (`make prometheus-bin`,
which `make test-unit` runs first). Without it the promtool run is skipped, unless
MODELPILOT_REQUIRE_TOOLS=1 (as make sets), so CI can never skip it silently.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ALERTS = ROOT / "charts" / "modelpilot" / "alerts"
RULES = ALERTS / "modelpilot.rules.yaml"
RULE_TESTS = ALERTS / "modelpilot.rules.test.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
CACHE = Path(os.environ.get("MODELPILOT_CACHE", Path.home() / ".cache" / "modelpilot"))
PROMTOOL = CACHE / "prometheus" / "bin" / "promtool"


def alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", markdown, flags=re.MULTILINE):
        out.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return out


def test_every_alert_has_a_runbook_section_in_docs_runbooks() -> None:
    sections = anchors(RUNBOOKS.read_text())
    for rule in alerts():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/runbooks.md#{rule['alert'].lower()}", rule["alert"]
        assert url.split("#")[1] in sections, f"docs/runbooks.md has no section {url}"


def test_every_alert_has_a_promtool_case_that_fires_it() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alerts()} <= fired


def test_the_prometheus_rule_template_embeds_the_rules_file() -> None:
    template = (ROOT / "charts" / "modelpilot" / "templates" / "prometheusrule.yaml").read_text()
    assert '.Files.Get "alerts/modelpilot.rules.yaml"' in template
    assert "- alert:" not in template  # the rules live in one place


def test_promtool_runs_every_rule_case() -> None:
    if not PROMTOOL.exists():
        if os.environ.get("MODELPILOT_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{PROMTOOL} is not built (make prometheus-bin)")
        pytest.skip(f"{PROMTOOL} is not built (make prometheus-bin)")
    checked = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [str(PROMTOOL), "test", "rules", RULE_TESTS.name],
        cwd=ALERTS,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr
