"""The CRD and the Python types stay in step: regenerate and compare, and check the schema
declares every status field the operator writes (the apiserver prunes undeclared ones)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from modelpilot.api.spec import BOUNDED_METRICS, parse_spec
from modelpilot.api.status import (
    AnalysisStatus,
    AnalysisWindow,
    CanaryStatus,
    CandidateStatus,
    Condition,
    FeatureDrift,
    HistoryEntry,
    ModelDeploymentStatus,
    MonitoringStatus,
    StableStatus,
    dump_status,
    parse_status,
)

ROOT = Path(__file__).resolve().parents[3]
T = datetime(2026, 1, 1, tzinfo=UTC)


def _gen_crd():
    spec = importlib.util.spec_from_file_location("gen_crd", ROOT / "hack" / "gen_crd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def crd():
    return _gen_crd().build_crd()


def _schema(crd):
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crd_is_what_the_types_generate():
    gen = _gen_crd()
    assert gen.OUTPUT.read_text() == gen.render(), "run: make gen-crd"


def test_schema_is_structural(crd):
    def walk(node, path):
        assert "$ref" not in node and "anyOf" not in node and "allOf" not in node, path
        assert node.get("additionalProperties") is not False, path
        if node.get("type") == "object" and path != ".metadata":
            assert (
                "properties" in node
                or "additionalProperties" in node
                or node.get("x-kubernetes-preserve-unknown-fields")
            ), path
        for key, child in (node.get("properties") or {}).items():
            assert "type" in child, f"{path}.{key} has no type"
            walk(child, f"{path}.{key}")
        if "items" in node:
            walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}")

    walk(_schema(crd), "")


def test_every_spec_field_has_a_description(crd):
    def walk(node, path):
        for key, child in (node.get("properties") or {}).items():
            assert child.get("description"), f"{path}.{key}"
            walk(child, f"{path}.{key}")
        if "items" in node:
            walk(node["items"], f"{path}[]")

    walk(_schema(crd)["properties"]["spec"], "spec")


def full_status() -> ModelDeploymentStatus:
    window = AnalysisWindow(
        started_at=T,
        ended_at=T,
        verdict="Passed",
        canary_requests=1,
        stable_requests=1,
        canary_error_rate=0.0,
        stable_error_rate=0.0,
        canary_client_error_rate=0.0,
        stable_client_error_rate=0.0,
        canary_latency_p99_ms=1.0,
        stable_latency_p99_ms=1.0,
        prediction_psi=0.01,
        message="ok",
    )
    return ModelDeploymentStatus(
        observed_generation=3,
        phase="Canary",
        message="m",
        revision_counter=2,
        last_spec_hash="h",
        last_retrain_request="r",
        last_revision_started_at=T,
        last_promote_request="p",
        last_abort_request="a",
        next_scheduled_at=T,
        stable=StableStatus(
            revision="v1",
            model_sha256="s",
            metric="accuracy",
            score=0.9,
            deployment="d",
            service="svc",
            spec_hash="h",
            trigger="Created",
            promoted_at=T,
        ),
        candidate=CandidateStatus(
            revision="v2",
            state="Canary",
            trigger="SpecChanged",
            spec_hash="h",
            job="j",
            started_at=T,
            finished_at=T,
            model_sha256="s",
            metric="accuracy",
            candidate_score=0.95,
            stable_revision="v1",
            stable_score=0.9,
            delta=0.05,
            threshold=0.8,
            holdout_sha256="x",
            verdict="Passed",
            message="m",
            deployment="d2",
        ),
        canary=CanaryStatus(
            revision="v2",
            step_index=1,
            step_started_at=T,
            step="2/4 pause 30s",
            weight=20,
            actual_weight=25,
            stable_replicas=3,
            canary_replicas=1,
            paused=True,
            analysis=AnalysisStatus(
                failures=1,
                inconclusive=2,
                last_window_at=T,
                windows=[window],
                canary_snapshot={"10.0.0.7": {"requests": {"2xx": 5}, "latency": {"0.01": 5}}},
                stable_snapshot={"10.0.0.8": {"requests": {"2xx": 9, "5xx": 1}}},
            ),
            message="m",
        ),
        history=[
            HistoryEntry(
                revision="v1",
                outcome="Promoted",
                trigger="Created",
                started_at=T,
                finished_at=T,
                metric="accuracy",
                score=0.9,
                stable_score=0.8,
                model_sha256="s",
                spec_hash="h",
                holdout_sha256="x",
                message="m",
            )
        ],
        monitoring=MonitoringStatus(
            revision="v1",
            window_started_at=T,
            last_window_at=T,
            requests=400,
            drifted=True,
            worst=[FeatureDrift(feature="petal length (cm)", psi=1.2)],
            message="m",
            last_retrain_at=T,
            snapshot={"10.0.0.8": {"petal length (cm)": {"0": 3.0, "1": 4.0}}},
        ),
        conditions=[
            Condition(
                type="Ready",
                status="True",
                reason="Serving",
                message="m",
                last_transition_time=T,
                observed_generation=3,
            )
        ],
    )


def test_every_status_field_written_is_declared(crd):
    """What pruning would do: every key of a fully populated status exists in the schema."""
    status = dump_status(full_status())

    def undeclared(value, node, path):
        if isinstance(value, dict):
            props = node.get("properties")
            if props is None:
                return []
            out = []
            for key, child in value.items():
                if key not in props:
                    out.append(f"{path}.{key}")
                else:
                    out += undeclared(child, props[key], f"{path}.{key}")
            return out
        if isinstance(value, list):
            return [p for item in value for p in undeclared(item, node["items"], f"{path}[]")]
        return []

    assert undeclared(status, _schema(crd)["properties"]["status"], "status") == []
    assert parse_status(status) == full_status()


def test_cel_rules_name_their_fields(crd):
    text = yaml.safe_dump(crd)
    for field in (
        "spec.training.dataset",
        "spec.training.schedule",
        "spec.evaluation.threshold",
        "spec.rollout.steps",
        "spec.rollout.trafficRouter",
    ):
        assert f"message: {field}" in text or f"message: '{field}" in text or field in text
    assert all(m in text for m in BOUNDED_METRICS)


def test_printer_columns(crd):
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == [
        "Phase", "Ready", "Stable", "Candidate", "Weight", "Pinned", "Metric", "Score", "Age",
        "Drifted", "Data",  # priority 1: kubectl get -o wide
    ]
    assert crd["spec"]["names"]["shortNames"] == ["mdep"]
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_example_specs_parse():
    parsed = {}
    for path in sorted((ROOT / "examples").glob("*/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ModelDeployment":
                parsed[path.parent.name] = parse_spec(doc["spec"])
    # every example folder holds a ModelDeployment, and each one parses (raises otherwise)
    example_dirs = {p.name for p in (ROOT / "examples").iterdir() if p.is_dir()}
    assert parsed and set(parsed) == example_dirs
