"""The Argo CD health check in docs/gitops.md, run as Argo CD runs it: Lua 5.1 with `obj` set.

The Lua is taken from the document itself, so what people copy is what is tested; each case
is one state a ModelDeployment's kstatus conditions can be in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

REPO = Path(__file__).resolve().parents[3]
HEALTH_KEY = "resource.customizations.health.modelpilot.dev_ModelDeployment"


def health_lua() -> str:
    text = (REPO / "docs" / "gitops.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL):
        doc = yaml.safe_load(block)
        if isinstance(doc, dict) and HEALTH_KEY in doc.get("data", {}):
            return doc["data"][HEALTH_KEY]
    raise AssertionError(f"docs/gitops.md has no argocd-cm block with {HEALTH_KEY}")


def argo_health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(health_lua())
    return result["status"], result["message"]


def cond(type_: str, status: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": type_ + status, "message": message}


def mdep(status: dict[str, Any] | None, generation: int = 2) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "iris", "generation": generation}}
    if status is not None:
        obj["status"] = status
    return obj


CASES = [
    pytest.param(mdep(None), "Progressing", "operator", id="no-status-yet"),
    pytest.param(
        mdep({"observedGeneration": 1, "conditions": [cond("Ready", "True")]}),
        "Progressing",
        "generation 2",
        id="new-spec-not-observed",
    ),
    pytest.param(
        mdep(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond("Ready", "False"),
                    cond("Reconciling", "True", "training v1"),
                    cond("Stalled", "False"),
                ],
            }
        ),
        "Progressing",
        "training v1",
        id="training",
    ),
    pytest.param(
        mdep(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond("Ready", "True"),
                    cond("Reconciling", "True", "canary v2 at 20%"),
                ],
            }
        ),
        "Progressing",
        "canary v2 at 20%",
        id="canary-stepping",
    ),
    pytest.param(
        mdep(
            {
                "observedGeneration": 2,
                "canary": {"revision": "v2", "paused": True},
                "conditions": [cond("Ready", "True"), cond("Reconciling", "True")],
            }
        ),
        "Suspended",
        "modelpilot promote iris",
        id="canary-paused-for-promote",
    ),
    pytest.param(
        mdep(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond("Ready", "True", "v1 serves"),
                    cond("Reconciling", "False"),
                    cond("Stalled", "False"),
                ],
            }
        ),
        "Healthy",
        "v1 serves",
        id="serving",
    ),
    pytest.param(
        mdep(
            {
                "observedGeneration": 2,
                "phase": "RolledBack",
                "conditions": [
                    cond("Ready", "True", "v1 serves"),
                    cond("Reconciling", "False"),
                    cond("CanaryHealthy", "False", "p99 412ms > 250ms"),
                ],
            }
        ),
        "Healthy",
        "v1 serves",
        id="rolled-back-canary-is-healthy",
    ),
    pytest.param(
        mdep(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond("Ready", "False"),
                    cond("Reconciling", "False"),
                    cond("Stalled", "True", "estimator os.system is not in the allowlist"),
                ],
            }
        ),
        "Degraded",
        "allowlist",
        id="stalled",
    ),
    pytest.param(
        mdep(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond("Ready", "False", "0/2 pods Ready"),
                    cond("Reconciling", "False"),
                ],
            }
        ),
        "Degraded",
        "0/2 pods Ready",
        id="not-ready-and-idle",
    ),
]


@pytest.mark.parametrize(("obj", "health", "message_part"), CASES)
def test_argo_cd_health(obj: dict[str, Any], health: str, message_part: str) -> None:
    status, message = argo_health(obj)
    assert status == health
    assert message_part in message
