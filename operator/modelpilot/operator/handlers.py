"""The kopf shell: watch events only nudge the work queue; a tick does the rest.

Reacting fast is the point of watching owned objects: a Job's completion or a serving pod
turning Ready nudges its ModelDeployment at once instead of at the next resync.

Startup serves /healthz and /metrics first, then (with leader election on) waits for the
Lease: kopf starts its watches only after startup handlers return, so a standby neither
watches nor acts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from modelpilot.api import names
from modelpilot.operator.cluster import KubernetesCluster, cluster_cores
from modelpilot.operator.endpoint import Address, serve
from modelpilot.operator.leader import LeaderElector
from modelpilot.operator.live import DefaultMetrics
from modelpilot.operator.reconcile import TickResult, tick
from modelpilot.operator.settings import Settings, load_settings
from modelpilot.operator.telemetry import ModelDeploymentFacts, OperatorMetrics
from modelpilot.operator.training_queue import TrainingSlots
from modelpilot.operator.workqueue import Key, WorkQueue

# kopf exports the PRESENT token but not its type (MetaFilterToken): hence Any.
OWNED: dict[str, Any] = {
    names.LABEL_MANAGED_BY: names.MANAGED_BY,
    names.LABEL_MODEL: kopf.PRESENT,
}
log = logging.getLogger("modelpilot.operator")


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
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
    telemetry = memo["telemetry"] = OperatorMetrics()
    if operator_settings.liveness_endpoint:
        address = Address.parse(operator_settings.liveness_endpoint)
        memo["endpoint"] = await serve(telemetry, address)

    def count_request(method: str, kind: str, named: bool, code: int) -> None:
        telemetry.observe_request(method, kind=kind, named=named, code=code)

    cluster = KubernetesCluster(observe=count_request)
    if operator_settings.leader_election_namespace:
        identity = f"{operator_settings.pod_name or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
        elector = memo["elector"] = LeaderElector(
            cluster,
            namespace=operator_settings.leader_election_namespace,
            name=operator_settings.leader_election_lease,
            identity=identity,
        )
        await elector.acquire()
        memo["holding"] = asyncio.create_task(elector.hold(on_lost=_stop_acting_now))
    telemetry.leader.set(1)
    metrics = memo["metrics"] = DefaultMetrics()
    models = telemetry.model_deployments
    loop = asyncio.get_running_loop()
    limit = operator_settings.max_concurrent_trainings
    if limit is None:
        limit = await asyncio.to_thread(cluster_cores, cluster)
    log.info("at most %d training Jobs at once", limit)

    def wake(key: Key) -> None:  # called from a tick's worker thread
        loop.call_soon_threadsafe(memo["queue"].nudge, key)

    slots = TrainingSlots(limit, wake=wake)

    def one_tick(key: Key) -> TickResult:
        result = tick(
            cluster,
            operator_settings,
            key[0],
            key[1],
            datetime.now(UTC),
            metrics=metrics,
            slots=slots,
        )
        if result.gone:
            models.forget(*key)
        elif result.plan is not None:
            facts = ModelDeploymentFacts.from_status(
                result.plan.status, queued=result.queued is not None
            )
            models.record(*key, facts)
        return result

    queue = memo["queue"] = WorkQueue(
        one_tick, resync_seconds=operator_settings.resync_seconds, observe=telemetry.observe_tick
    )
    telemetry.watch_queue(depth=queue.depth, oldest_age=queue.oldest_age)


def _stop_acting_now() -> None:
    # Another replica may already act: no graceful shutdown that could still write.
    logging.shutdown()
    os._exit(1)


@kopf.on.cleanup()
async def stop_reconciling(memo: kopf.Memo, **_: Any) -> None:
    queue: WorkQueue | None = memo.get("queue")
    if queue is not None:
        await queue.stop()
    metrics: DefaultMetrics | None = memo.get("metrics")
    if metrics is not None:
        metrics.close()
    holding = memo.get("holding")
    if holding is not None:
        holding.cancel()
    elector: LeaderElector | None = memo.get("elector")
    if elector is not None:
        elector.release()
    endpoint = memo.get("endpoint")
    if endpoint is not None:
        await endpoint.cleanup()


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
