"""A ModelDeployment store in memory and the canary statuses the dashboard's tests draw."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

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
    dump_status,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STEPS = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "30s"}}]


class MemoryModels:
    def __init__(self, forbidden: frozenset[str] = frozenset()) -> None:
        self.bodies: dict[tuple[str, str], dict[str, Any]] = {}
        self.forbidden = forbidden  # namespaces where patching is refused

    def put(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        self.bodies[(meta["namespace"], meta["name"])] = body

    def list_all(self) -> list[dict[str, Any]]:
        return list(self.bodies.values())

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.bodies.get((namespace, name))

    def annotate(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        if namespace in self.forbidden:
            raise PermissionError(f"forbidden: you may not patch modeldeployments in {namespace}")
        body = self.bodies.get((namespace, name))
        if body is None:
            raise LookupError(f"modeldeployment {namespace}/{name} not found")
        body["metadata"].setdefault("annotations", {}).update(annotations)


def canary(step_index: int = 0, weight: int = 20, windows: tuple[str, ...] = ()) -> dict[str, Any]:
    status = ModelDeploymentStatus(
        phase=Phase.CANARY,
        stable=StableStatus(revision="v1", model_sha256="a", deployment="iris-v1", service="iris"),
        candidate=CandidateStatus(
            revision="v2",
            state=CandidateState.CANARY,
            trigger=Trigger.SPEC_CHANGED,
            spec_hash="h",
            job="iris-train-v2",
            started_at=T0,
            metric="accuracy",
            candidate_score=0.96,
        ),
        canary=CanaryStatus(
            revision="v2",
            step_index=step_index,
            weight=weight,
            rollout={"steps": STEPS},
            analysis=AnalysisStatus(
                windows=[
                    AnalysisWindow(started_at=T0, verdict=v, canary_requests=30)  # type: ignore[arg-type]
                    for v in windows
                ]
            ),
        ),
        monitoring=MonitoringStatus(
            worst=[
                FeatureDrift(feature="petal <b>", psi=0.4),
                FeatureDrift(feature="sepal", psi=0.05),
            ]
        ),
    )
    return {
        "metadata": {
            "name": "iris",
            "namespace": "ml",
            "creationTimestamp": "2026-01-01T11:00:00Z",
        },
        "spec": {"monitoring": {"maxFeaturePsi": 0.25}, "rollout": {"steps": STEPS}},
        "status": dump_status(status),
    }


def serving() -> dict[str, Any]:
    body = canary()
    body["status"] = dump_status(
        ModelDeploymentStatus(
            phase=Phase.SERVING,
            stable=StableStatus(
                revision="v1", model_sha256="a", deployment="iris-v1", service="iris"
            ),
        )
    )
    return body
