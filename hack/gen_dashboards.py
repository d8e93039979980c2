"""Writes the Grafana dashboards the chart ships (charts/modelpilot/dashboards/*.json).

The panels are data here, so the JSON stays consistent (ids, grid, datasource, variables)
and the e2e test with a real Prometheus can run every panel's query
(tests/e2e/test_pictures.py). `--check` fails when a committed file differs
from what this script writes (tests/unit/packaging/test_dashboards.py runs it).

    python hack/gen_dashboards.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "charts" / "modelpilot" / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
ONE = 'namespace="$namespace", modeldeployment="$modeldeployment"'
# Serving pods label their series with the model's name; the namespace is the scrape's.
SERVED = 'namespace="$namespace", model="$modeldeployment"'
RATE = "$__rate_interval"


def target(expr: str, legend: str, ref: str = "A") -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(
    title: str,
    kind: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    description: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    refs = "ABCDEFGH"
    return {
        "title": title,
        "type": kind,
        "description": description,
        "datasource": DS,
        "targets": [{**t, "refId": refs[i]} for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit, **(extra or {})}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom"}},
    }


def variables(*, per_model: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "name": "datasource",
            "type": "datasource",
            "query": "prometheus",
            "label": "Prometheus",
        }
    ]
    if per_model:
        for name, query in (
            ("namespace", "label_values(modelpilot_modeldeployment_status_phase, namespace)"),
            (
                "modeldeployment",
                "label_values(modelpilot_modeldeployment_status_phase"
                '{namespace="$namespace"}, modeldeployment)',
            ),
        ):
            out.append(
                {
                    "name": name,
                    "type": "query",
                    "datasource": DS,
                    "refresh": 2,
                    "query": {"query": query, "refId": name},
                    "definition": query,
                }
            )
    return out


def dashboard(
    uid: str,
    title: str,
    panels: list[dict[str, Any]],
    *,
    per_model: bool,
    annotations: list[dict[str, Any]] = (),
) -> dict[str, Any]:  # type: ignore[assignment]
    laid = []
    for index, each in enumerate(panels):  # two panels a row, 12 units wide, 8 high
        laid.append(
            {
                **each,
                "id": index + 1,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
            }
        )
    return {
        "uid": uid,
        "title": title,
        "tags": ["modelpilot"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables(per_model=per_model)},
        "annotations": {"list": list(annotations)},
        "panels": laid,
    }


def fleet() -> dict[str, Any]:
    return dashboard(
        "modelpilot-fleet",
        "modelpilot / fleet",
        [
            panel(
                "Models by phase",
                "timeseries",
                [target("sum by (phase) (modelpilot_modeldeployments)", "{{phase}}")],
                description="ModelDeployments by phase (a standby operator reports zeros).",
            ),
            panel(
                "Trainings running and queued",
                "timeseries",
                [target("sum by (state) (modelpilot_trainings)", "{{state}}")],
                description="Training Jobs running, and revisions waiting for a training slot.",
            ),
            panel(
                "Rollouts in progress",
                "stat",
                [target('sum(modelpilot_modeldeployments{phase=~"Deploying|Canary"})', "rollouts")],
                description="Revisions whose pods start or whose canary runs.",
            ),
            panel(
                "Reconcile errors",
                "timeseries",
                [
                    target(
                        "sum by (outcome) (rate(modelpilot_reconcile_total"
                        f'{{outcome=~"error|crash|permanent"}}[{RATE}]))',
                        "{{outcome}}",
                    )
                ],
                unit="ops",
                description="Failed reconcile ticks per second; the operator's log names them.",
            ),
        ],
        per_model=False,
    )


def model() -> dict[str, Any]:
    requests = f"modelpilot_requests_total{{{SERVED}}}"
    errors = f'modelpilot_requests_total{{{SERVED}, code=~"5.."}}'
    annotations = [
        {
            "name": "Promotions",
            "datasource": DS,
            "enable": True,
            "iconColor": "green",
            "expr": f"modelpilot_modeldeployment_stable_revision_info{{{ONE}}} unless "
            f"modelpilot_modeldeployment_stable_revision_info{{{ONE}}} offset 1m",
            "titleFormat": "promoted {{revision}}",
            "step": "30s",
        },
        {
            "name": "Rollbacks",
            "datasource": DS,
            "enable": True,
            "iconColor": "red",
            "expr": f'modelpilot_modeldeployment_status_phase{{{ONE}, phase="RolledBack"}} == 1 '
            f'unless modelpilot_modeldeployment_status_phase{{{ONE}, phase="RolledBack"}}'
            " offset 1m == 1",
            "titleFormat": "rolled back",
            "step": "30s",
        },
    ]
    return dashboard(
        "modelpilot-model",
        "modelpilot / model",
        [
            panel(
                "Traffic split",
                "timeseries",
                [
                    target(f"modelpilot_modeldeployment_canary_weight_ratio{{{ONE}}}", "canary"),
                    target(
                        f"1 - modelpilot_modeldeployment_canary_weight_ratio{{{ONE}}}", "stable"
                    ),
                ],
                unit="percentunit",
                description="Desired share of requests for canary and stable.",
            ),
            panel(
                "Request rate by version",
                "timeseries",
                [target(f"sum by (version) (rate({requests}[{RATE}]))", "{{version}}")],
                unit="reqps",
                description="Inference requests per second each revision served.",
            ),
            panel(
                "Error rate by version",
                "timeseries",
                [
                    target(
                        f"(sum by (version) (rate({errors}[{RATE}])) or "
                        f"sum by (version) (rate({requests}[{RATE}])) * 0)"
                        f" / sum by (version) (rate({requests}[{RATE}]))",
                        "{{version}}",
                    )
                ],
                unit="percentunit",
                description="Share of requests answered with a 5xx.",
            ),
            panel(
                "p99 latency by version",
                "timeseries",
                [
                    target(
                        "histogram_quantile(0.99, sum by (version, le) "
                        f"(rate(modelpilot_request_duration_seconds_bucket{{{SERVED}}}[{RATE}])))",
                        "{{version}}",
                    )
                ],
                unit="s",
                description="Body read to response built.",
            ),
            panel(
                "Analysis windows by verdict",
                "timeseries",
                [
                    target(
                        "sum by (verdict) "
                        f"(increase(modelpilot_analysis_windows_total{{{ONE}}}[{RATE}]))",
                        "{{verdict}}",
                    )
                ],
                description="The canary analysis' windows as they concluded: Passed, Failed, "
                "Inconclusive (too few requests).",
                extra={"custom": {"drawStyle": "bars"}},
            ),
            panel(
                "Phase",
                "state-timeline",
                [target(f"modelpilot_modeldeployment_status_phase{{{ONE}}} == 1", "{{phase}}")],
                description="The ModelDeployment's phase over time.",
            ),
        ],
        per_model=True,
        annotations=annotations,
    )


def drift() -> dict[str, Any]:
    return dashboard(
        "modelpilot-drift",
        "modelpilot / drift",
        [
            panel(
                "PSI per feature against its threshold",
                "timeseries",
                [
                    target(f"modelpilot_modeldeployment_feature_psi{{{ONE}}}", "{{feature}}"),
                    target(
                        f"modelpilot_modeldeployment_feature_psi_threshold{{{ONE}}}", "threshold"
                    ),
                ],
                description="Population stability index of each monitoring window's live inputs "
                "against the training data (the worst features); above the threshold "
                "the model is Drifted.",
            ),
        ],
        per_model=True,
    )


def training() -> dict[str, Any]:
    durations = "modelpilot_training_duration_seconds"
    return dashboard(
        "modelpilot-training",
        "modelpilot / training",
        [
            panel(
                "Training duration (mean, last hour)",
                "timeseries",
                [
                    target(
                        f"sum by (outcome) (increase({durations}_sum{{{ONE}}}[1h])) / "
                        f"sum by (outcome) (increase({durations}_count{{{ONE}}}[1h]))",
                        "{{outcome}}",
                    )
                ],
                unit="s",
                description="How long training Jobs ran, from start to end, by outcome.",
            ),
            panel(
                "Trainings finished (last hour)",
                "timeseries",
                [
                    target(
                        f"sum by (outcome) (increase({durations}_count{{{ONE}}}[1h]))",
                        "{{outcome}}",
                    )
                ],
                description="Training Jobs that ended, by outcome.",
            ),
            panel(
                "Gate score per revision",
                "timeseries",
                [
                    target(
                        f"modelpilot_modeldeployment_gate_score{{{ONE}}}", "{{revision}} {{metric}}"
                    )
                ],
                description="Each scored candidate's gate metric on its holdout.",
            ),
        ],
        per_model=True,
    )


DASHBOARDS = {"fleet": fleet, "model": model, "drift": drift, "training": training}


def render() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(build(), indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for filename, text in render().items():
        path = OUT / filename
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale, run python hack/gen_dashboards.py: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
