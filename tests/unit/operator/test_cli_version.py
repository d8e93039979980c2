"""`modelpilot version`: what it reads from an operator's /metrics and what it prints."""

from __future__ import annotations

import pytest

from modelpilot.cli.version import OperatorVersion, render, version_from_metrics

PAGE = """# HELP modelpilot_leader 1 while this operator holds the leader Lease.
# TYPE modelpilot_leader gauge
modelpilot_leader 1.0
# HELP modelpilot_build_info 1, labelled with the running operator's version.
# TYPE modelpilot_build_info gauge
modelpilot_build_info{version="0.2.0"} 1.0
"""


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        pytest.param(PAGE, "0.2.0", id="reads-the-label"),
        pytest.param(PAGE.replace("0.2.0", "1.0.0-rc.1"), "1.0.0-rc.1", id="pre-release"),
        pytest.param("modelpilot_leader 1.0\n", None, id="an-operator-older-than-build-info"),
        pytest.param('modelpilot_build_info{version="0.2.0"} 0.0\n', None, id="only-a-value-of-1"),
    ],
)
def test_version_from_metrics(page: str, expected: str | None) -> None:
    assert version_from_metrics(page) == expected


def test_render_lists_every_operator_pod_and_says_why_one_is_unknown() -> None:
    text = render(
        "0.2.0",
        [
            OperatorVersion("modelpilot-system", "modelpilot-operator-a", "0.2.0"),
            OperatorVersion(
                "modelpilot-system", "modelpilot-operator-b", None, "pod proxy: HTTP 403 Forbidden"
            ),
        ],
        None,
    )
    assert text.splitlines() == [
        "client:   0.2.0",
        "operator: 0.2.0  (modelpilot-system/modelpilot-operator-a)",
        "operator: unknown (pod proxy: HTTP 403 Forbidden)"
        "  (modelpilot-system/modelpilot-operator-b)",
    ]


def test_render_without_a_cluster_or_an_operator() -> None:
    assert render("0.2.0", [], "ConfigException: no kubeconfig").splitlines()[1] == (
        "operator: unknown (ConfigException: no kubeconfig)"
    )
    assert render("0.2.0", [], None).splitlines()[1].startswith("operator: not found")
