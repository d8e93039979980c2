"""The kopf shell: watch events only nudge the work queue; a tick does the rest.

Reacting fast is the point of watching owned objects: a Job's completion or a serving pod
turning Ready nudges its ModelDeployment at once instead of at the next resync.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from modelpilot.api import names
from modelpilot.operator.cluster import KubernetesCluster
from modelpilot.operator.live import DefaultMetrics
from modelpilot.operator.reconcile import TickResult, tick
from modelpilot.operator.settings import Settings, load_settings
from modelpilot.operator.workqueue import Key, WorkQueue

# kopf exports the PRESENT token but not its type (MetaFilterToken): hence Any.
OWNED: dict[str, Any] = {
    names.LABEL_MANAGED_BY: names.MANAGED_BY,
    names.LABEL_MODEL: kopf.PRESENT,
}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # kopf keeps its own bookkeeping in annotations, never in status: the CRD's status
    # schema declares only modelpilot's fields, and the apiserver prunes the rest.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=names.GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    # Every nudge is a handler call; kopf would log each one. Our ticks log what matters.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # One line per /metrics scrape of every pod would drown the ticks' own log lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    operator_settings: Settings = memo.get("settings") or load_settings()
    cluster = KubernetesCluster()
    metrics = memo["metrics"] = DefaultMetrics()

    def one_tick(key: Key) -> TickResult:
        return tick(cluster, operator_settings, key[0], key[1], datetime.now(UTC), metrics=metrics)

    memo["queue"] = WorkQueue(one_tick, resync_seconds=operator_settings.resync_seconds)


@kopf.on.cleanup()
async def stop_reconciling(memo: kopf.Memo, **_: Any) -> None:
    queue: WorkQueue | None = memo.get("queue")
    if queue is not None:
        await queue.stop()
    metrics: DefaultMetrics | None = memo.get("metrics")
    if metrics is not None:
        metrics.close()


@kopf.on.event(names.GROUP, names.VERSION, names.PLURAL)
async def reconcile_when_model_deployment_changes(
    *, namespace: str | None, name: str, memo: kopf.Memo, **_: Any
) -> None:
    if namespace is not None:  # the CRD is namespaced: always set
        memo["queue"].nudge((namespace, name))


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def nudge_owner_when_training_job_changes(
    *, namespace: str | None, labels: Mapping[str, str], memo: kopf.Memo, **_: Any
) -> None:
    if namespace is not None:
        memo["queue"].nudge((namespace, labels[names.LABEL_MODEL]))


@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
async def nudge_owner_when_serving_deployment_changes(
    *, namespace: str | None, labels: Mapping[str, str], memo: kopf.Memo, **_: Any
) -> None:
    if namespace is not None:
        memo["queue"].nudge((namespace, labels[names.LABEL_MODEL]))
