"""The chart's Grafana dashboards: generated, complete, and asking only for series that exist.

That each query returns data from a real Prometheus scraping a real canary is
tests/e2e/test_pictures.py; this checks the names without a cluster.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelpilot.api import serving_metrics
from modelpilot.api.status import (
    AnalysisStatus,
    AnalysisWindow,
    CanaryStatus,
    CandidateState,
    CandidateStatus,
    FeatureDrift,
    ModelDeploymentStatus,
    MonitoringStatus,
    Phase,
    StableStatus,
    Trigger,
)
from modelpilot.operator.telemetry import ModelDeploymentFacts, OperatorMetrics

ROOT = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("MODELPILOT_CACHE", Path.home() / ".cache" / "modelpilot"))
PROMTOOL = CACHE / "prometheus" / "bin" / "promtool"
DASHBOARDS = ROOT / "charts" / "modelpilot" / "dashboards"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def generator():  # hack/ is not a package
    path = ROOT / "hack" / "gen_dashboards.py"
    spec = importlib.util.spec_from_file_location("gen_dashboards", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def queries(board: dict) -> list[str]:
    out = [t["expr"] for p in board["panels"] for t in p["targets"]]
    return out + [a["expr"] for a in board["annotations"]["list"]]


def operator_series() -> set[str]:
    """Every series name the operator exports once it has seen a canary, drift and a training."""
    metrics = OperatorMetrics()
    status = ModelDeploymentStatus(
        phase=Phase.CANARY,
        stable=StableStatus(revision="v1", model_sha256="a", deployment="m-v1", service="m"),
        candidate=CandidateStatus(
            revision="v2",
            state=CandidateState.CANARY,
            trigger=Trigger.SPEC_CHANGED,
            spec_hash="h",
            job="m-train-v2",
            started_at=T0,
            metric="accuracy",
            candidate_score=0.9,
        ),
        canary=CanaryStatus(
            revision="v2",
            weight=10,
            analysis=AnalysisStatus(windows=[AnalysisWindow(started_at=T0, verdict="Passed")]),
        ),
        monitoring=MonitoringStatus(worst=[FeatureDrift(feature="x", psi=0.1)]),
    )
    training = status.model_copy(
        update={
            "phase": Phase.TRAINING,
            "candidate": status.candidate
            and status.candidate.model_copy(update={"state": CandidateState.TRAINING}),
        }
    )
    record = metrics.model_deployments.record
    record("ml", "m", ModelDeploymentFacts.from_status(training), now=0.0)
    record("ml", "m", ModelDeploymentFacts.from_status(status, psi_threshold=0.2), now=1.0)
    text = metrics.render().decode()
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def serving_series() -> set[str]:
    out = set()
    for name in (serving_metrics.REQUESTS_TOTAL, serving_metrics.PREDICTIONS_TOTAL):
        out.add(name)
    for histogram in (serving_metrics.REQUEST_DURATION, serving_metrics.PREDICTION_VALUE):
        out |= {f"{histogram}_bucket", f"{histogram}_sum", f"{histogram}_count"}
    return out


def test_the_committed_dashboards_are_what_the_generator_writes() -> None:
    assert generator().main(["--check"]) == 0, "run python hack/gen_dashboards.py"


@pytest.mark.parametrize("name", ["fleet", "model", "drift", "training"])
def test_every_panel_asks_for_series_that_exist(name: str) -> None:
    board = json.loads((DASHBOARDS / f"{name}.json").read_text())
    known = operator_series() | serving_series()
    assert board["panels"], name
    for expr in queries(board):
        for series in re.findall(r"\bmodelpilot_[a-z_]+", expr):
            assert series in known, f"{name}: {series} is exported by nobody ({expr})"


def test_the_issue_s_panels_are_there() -> None:
    titles = {
        name: {p["title"] for p in json.loads((DASHBOARDS / f"{name}.json").read_text())["panels"]}
        for name in ("fleet", "model", "drift", "training")
    }
    assert {
        "Models by phase",
        "Trainings running and queued",
        "Rollouts in progress",
        "Reconcile errors",
    } <= titles["fleet"]
    assert {
        "Traffic split",
        "Request rate by version",
        "Error rate by version",
        "p99 latency by version",
        "Analysis windows by verdict",
    } <= titles["model"]
    assert {"PSI per feature against its threshold"} <= titles["drift"]
    assert {"Training duration (mean, last hour)", "Gate score per revision"} <= titles["training"]
    model = json.loads((DASHBOARDS / "model.json").read_text())
    assert {a["name"] for a in model["annotations"]["list"]} == {"Promotions", "Rollbacks"}


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule, with Grafana's variables filled in."""
    if not PROMTOOL.exists():
        if os.environ.get("MODELPILOT_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{PROMTOOL} is not built (make prometheus-bin)")
        pytest.skip(f"{PROMTOOL} is not built (make prometheus-bin)")
    rules = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for i, expr in enumerate(queries(json.loads(path.read_text()))):
            grafana = (
                expr.replace("$__rate_interval", "1m")
                .replace("$namespace", "ml")
                .replace("$modeldeployment", "iris")
            )
            rules.append({"record": f"dashboard:{path.stem}:q{i}", "expr": grafana})
    file = tmp_path / "queries.yaml"
    file.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
    checked = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(file)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(rules)} rules found" in checked.stdout
