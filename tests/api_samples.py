"""Fully populated modelpilot.api values that tests in several folders share (tests/ is on
pytest's pythonpath, pyproject.toml): a status with every field set, and a small real bundle."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from modelpilot.api.bundle import BundleMetadata, FeatureSchema, running_versions, write_bundle
from modelpilot.api.status import (
    AnalysisStatus,
    AnalysisWindow,
    CanaryStatus,
    CandidateStatus,
    Condition,
    FeatureDrift,
    GateStatus,
    HistoryEntry,
    ModelDeploymentStatus,
    MonitoringStatus,
    StableStatus,
)

T = datetime(2026, 1, 1, tzinfo=UTC)
UID = "0b6f3c1e-1111-4222-8333-944455556666"


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
        metrics={"error-budget": 0.002},
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
            gate=GateStatus(
                type="pre-rollout",
                state="Passed",
                message="pre-rollout gate passed (http://hooks/pre: HTTP 200)",
                since=T,
            ),
            gates_passed=["pre-rollout"],
            header_routes=[
                {
                    "name": "testers",
                    "match": [{"header": "x-model-variant", "kind": "exact", "value": "canary"}],
                }
            ],
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


def tiny_bundle(tmp_path: Path) -> tuple[Path, str]:
    """A real bundle of a fitted DummyClassifier under tmp_path/out/v1; (its dir, its sha256)."""
    from sklearn.dummy import DummyClassifier

    metadata = BundleMetadata(
        name="iris",
        namespace="ml",
        revision="v1",
        created_at="2026-11-28T00:00:00Z",
        task="classification",
        estimator="sklearn.dummy.DummyClassifier",
        params={},
        features=FeatureSchema(names=["a"], dtypes=["float64"]),
        classes=[0, 1],
        training_data_sha256="d" * 64,
        holdout_sha256="h" * 64,
        metrics={"accuracy": 1.0},
        versions=running_versions(),
        owner_uid=UID,
    )
    model = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
    written = write_bundle(model, metadata, tmp_path / "out" / "v1")
    return tmp_path / "out" / "v1", written.model_sha256
