"""The reconcile walks' world: one ModelDeployment (SPEC) on the in-memory cluster and a
`World` that ticks the operator core over it, checking every phase transition.

test_operator_reconcile.py walks it; the watch-cache and training-queue tests reuse it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from builders import FOREST, spec_dict
from builders import training_summary as summary
from operator_fakes import FakeCluster

from modelpilot.api import names
from modelpilot.api.status import parse_status
from modelpilot.operator.reconcile import tick
from modelpilot.operator.rollout import check_transition
from modelpilot.operator.settings import Settings

NS, NAME = "ml", "iris"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(trainer_image="trainer:test", serving_image="serving:test")
SPEC = spec_dict(FOREST, params={"n_estimators": 10}, serving={"replicas": 2})


class World:
    """Given/When/Then over the fake cluster; every tick checks the phase transition."""

    def __init__(self, spec: dict | None = None, settings: Settings = SETTINGS) -> None:
        self.settings = settings
        self.cluster = FakeCluster()
        self.cluster.add_model_store(NS)
        self.now = T0
        self.cluster.apply_model_deployment(NS, NAME, copy.deepcopy(spec or SPEC))

    def tick(self, seconds: float = 1.0):
        before = self.status()
        result = tick(self.cluster, self.settings, NS, NAME, self.now)
        self.now += timedelta(seconds=seconds)
        check_transition(before.phase, self.status().phase)
        return result

    def status(self):
        md = self.cluster.get(names.KIND, NS, NAME)
        return parse_status(md.get("status") if md else None)

    def condition(self, type_: str):
        c = self.status().condition(type_)
        assert c is not None, type_
        return c

    def jobs(self):
        return sorted(self.cluster.of_kind("Job"))

    def deployments(self):
        return sorted(self.cluster.of_kind("Deployment"))

    def services(self):
        return sorted(self.cluster.of_kind("Service"))

    def serve(self, revision: str, score: float, stable: float | None = None, sha: str = "a"):
        """Job finishes with this summary; its Deployment comes up Ready."""
        self.cluster.finish_job(
            NS, f"{NAME}-train-{revision}", summary(revision, score, stable, sha)
        )
        self.tick()
        self.cluster.make_ready(NS, f"{NAME}-{revision}")
        self.tick()

    def assert_converged(self):
        result = self.tick()
        assert result.plan.actions == ()
        assert result.plan.status == self.status()
