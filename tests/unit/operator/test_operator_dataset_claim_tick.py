"""spec.training.dataset.pvc through the reconcile tick over the fake cluster: the claim is
read by name until it exists and is labelled, then the training Job mounts it, and status
remembers it so a model at rest reads it no more."""

from __future__ import annotations

from datetime import UTC, datetime

from operator_fakes import FakeCluster

from modelpilot.api import names
from modelpilot.operator.reconcile import tick
from modelpilot.operator.settings import Settings

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DATA = {names.LABEL_DATASET: "true"}
SPEC = {
    "training": {
        "dataset": {"pvc": {"claimName": "sales-data", "path": "sales.csv"}, "target": "churned"},
        "estimator": "sklearn.ensemble.RandomForestClassifier",
    },
    "evaluation": {"metric": "accuracy", "threshold": 0.5},
    "modelStore": {"pvc": {"claimName": "models"}},
}


class _CountingGets:
    """The fake cluster, counting reads of PersistentVolumeClaims."""

    def __init__(self, cluster) -> None:
        self.cluster, self.claim_reads = cluster, 0

    def __getattr__(self, name: str):
        return getattr(self.cluster, name)

    def get(self, kind: str, namespace: str, name: str):
        if kind == "PersistentVolumeClaim" and name == "sales-data":
            self.claim_reads += 1
        return self.cluster.get(kind, namespace, name)


def _dataset_claim(cluster, *, labels: dict) -> None:
    cluster.objects.pop(("PersistentVolumeClaim", "ml", "sales-data"), None)
    cluster.create(
        "PersistentVolumeClaim",
        "ml",
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {
            "name": "sales-data", "labels": labels}},
    )  # fmt: skip


def test_the_tick_waits_for_the_claim_and_its_label_then_trains_and_stops_reading_it() -> None:
    fake = FakeCluster()
    fake.add_model_store("ml")
    fake.apply_model_deployment("ml", "churn", SPEC)
    cluster = _CountingGets(fake)

    def stalled_reason() -> str:
        status = fake.get(names.KIND, "ml", "churn")["status"]
        [c] = [c for c in status["conditions"] if c["type"] == "Stalled"]
        return c["reason"] if c["status"] == "True" else ""

    tick(cluster, Settings(), "ml", "churn", NOW)
    assert stalled_reason() == "DatasetClaimNotFound"
    _dataset_claim(fake, labels={})
    tick(cluster, Settings(), "ml", "churn", NOW)
    assert stalled_reason() == "DatasetClaimNotAllowed"
    assert fake.of_kind("Job") == {}
    _dataset_claim(fake, labels=DATA)
    for _ in range(2):
        tick(cluster, Settings(), "ml", "churn", NOW)
    assert stalled_reason() == ""
    [job] = fake.of_kind("Job").values()
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["dataset"]["persistentVolumeClaim"]["claimName"] == "sales-data"
    reads = cluster.claim_reads
    tick(cluster, Settings(), "ml", "churn", NOW)
    assert cluster.claim_reads == reads  # remembered in status.verifiedDatasetClaim
