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
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import kopf

from modelpilot.api import names
from modelpilot.operator.cluster import KubernetesCluster, cluster_cores
from modelpilot.operator.endpoint import Address, serve
from modelpilot.operator.gates import GateChecker
from modelpilot.operator.leader import LeaderElector
from modelpilot.operator.live import DefaultMetrics
from modelpilot.operator.monitoring import DriftScraper
from modelpilot.operator.notify import Notifier
from modelpilot.operator.reconcile import TickResult, tick
from modelpilot.operator.settings import Settings, load_settings
from modelpilot.operator.telemetry import ModelDeploymentFacts, OperatorMetrics
from modelpilot.operator.training_queue import TrainingSlots
from modelpilot.operator.watch_cache import (
    CachedCluster,
    RelistRequests,
    WatchCache,
    fill,
    readiness_changed,
)
from modelpilot.operator.workqueue import Key, WorkQueue

# kopf exports the PRESENT token but not its type (MetaFilterToken): hence Any.
OWNED: dict[str, Any] = {
    names.LABEL_MANAGED_BY: names.MANAGED_BY,
    names.LABEL_MODEL: kopf.PRESENT,
}
TICK_WORKERS = 16
OWNED_BY_US = {names.LABEL_MANAGED_BY: names.MANAGED_BY}  # the same, as a LIST's selector
# A kopf listing's events come as a burst; the cache is relisted once none came for this long.
RELIST_QUIET_SECONDS = 5.0
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
    # kopf retries a startup handler that raised: what it set up before stays in memo.
    telemetry = memo.get("telemetry") or OperatorMetrics()
    memo["telemetry"] = telemetry
    if operator_settings.liveness_endpoint and memo.get("endpoint") is None:
        address = Address.parse(operator_settings.liveness_endpoint)
        memo["endpoint"] = await serve(telemetry, address)

    def count_request(method: str, kind: str, named: bool, code: int) -> None:
        telemetry.observe_request(method, kind=kind, named=named, code=code)

    # Every request and scrape is bounded in time (10 s here, 2 s per scrape in live.py), and
    # ticks run on a pool larger than the default (cores + 4), so one slow object never
    # holds up the others for long.
    api = KubernetesCluster(timeout=10.0, observe=count_request)
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=TICK_WORKERS, thread_name_prefix="tick")
    )
    # Ticks read their ModelDeployment and owned objects from the watches (watch_cache).
    cache = memo["cache"] = WatchCache()
    cluster = CachedCluster(api, cache)
    if operator_settings.leader_election_namespace:
        elector: LeaderElector | None = memo.get("elector")
        if elector is None:
            host = operator_settings.pod_name or socket.gethostname()
            elector = memo["elector"] = LeaderElector(
                api,
                namespace=operator_settings.leader_election_namespace,
                name=operator_settings.leader_election_lease,
                identity=f"{host}_{uuid.uuid4().hex[:8]}",
            )
        if not elector.leading:
            await elector.acquire()
            memo["holding"] = asyncio.create_task(elector.hold(on_lost=_stop_acting_now))
    telemetry.leader.set(1)
    metrics = memo["metrics"] = DefaultMetrics()
    drift = memo["drift"] = DriftScraper()  # drift pages on threads of their own
    models = telemetry.model_deployments
    loop = asyncio.get_running_loop()
    limit = operator_settings.max_concurrent_trainings
    if limit is None:
        limit = await asyncio.to_thread(cluster_cores, api)
    log.info("at most %d training Jobs at once", limit)

    def wake(key: Key) -> None:  # called from a tick's worker thread
        loop.call_soon_threadsafe(memo["queue"].nudge, key)

    slots = TrainingSlots(limit, wake=wake)
    # Webhook gates are asked, and notifications sent, on threads of their own.
    gates = memo["gates"] = GateChecker(allowlist=operator_settings.webhook_allowlist, wake=wake)
    notifier = memo["notifier"] = Notifier(
        allowlist=operator_settings.webhook_allowlist, count=telemetry.count_notification
    )

    def one_tick(key: Key) -> TickResult:
        result = tick(
            cluster,
            operator_settings,
            key[0],
            key[1],
            datetime.now(UTC),
            metrics=metrics,
            slots=slots,
            drift=drift,
            gates=gates,
            notifier=notifier,
        )
        if result.gone:
            models.forget(*key)
            gates.forget(key)
        elif result.plan is not None:
            facts = ModelDeploymentFacts.from_status(
                result.plan.status,
                queued=result.queued is not None,
                psi_threshold=result.max_feature_psi,
            )
            models.record(*key, facts)
        return result

    queue = memo["queue"] = WorkQueue(
        one_tick, resync_seconds=operator_settings.resync_seconds, observe=telemetry.observe_tick
    )
    telemetry.watch_queue(depth=queue.depth, oldest_age=queue.oldest_age)

    # Filled before kopf starts watching (after startup), then kept by the watch events
    # below; a kind is listed again after kopf listed it (see _observe).
    watched = operator_settings.watch_namespaces
    listed = await asyncio.to_thread(fill, cache, api, namespaces=watched, owned=OWNED_BY_US)
    log.debug("cache filled: %d objects", listed)
    memo["relists"] = RelistRequests(RELIST_QUIET_SECONDS)
    memo["relist_tasks"] = set()

    def relist(namespace: str | None) -> None:  # in the event loop, when due
        wait = memo["relists"].due(namespace, loop.time())
        if wait is not None:  # the listing goes on
            loop.call_later(wait, relist, namespace)
            return
        task = asyncio.create_task(
            asyncio.to_thread(
                fill,
                cache,
                api,
                namespaces=() if namespace is None else (namespace,),
                owned=OWNED_BY_US,
            ),
            name=f"relist {namespace or 'everywhere'}",
        )
        memo["relist_tasks"].add(task)
        task.add_done_callback(_relisted)

    def _relisted(task: asyncio.Task[int]) -> None:
        memo["relist_tasks"].discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The watches keep the cache meanwhile; kopf's next listing asks again.
            log.error("relisting the cache failed: %s", task.exception())

    memo["relist"] = relist
    memo["relist_everywhere"] = not watched


def _observe(memo: kopf.Memo, kind: str, event: kopf.RawEvent) -> Mapping[str, Any] | None:
    """Feed the cache; after a kopf listing (events of type None: a watch started again and
    a DELETED may have fallen in the gap), relist that namespace once, when it is over."""
    before: Mapping[str, Any] | None = memo["cache"].observe(
        kind, event.get("type"), event["object"]
    )
    if event.get("type") is not None or "relist" not in memo:
        return before
    namespace = None if memo["relist_everywhere"] else event["object"]["metadata"]["namespace"]
    loop = asyncio.get_running_loop()
    relists: RelistRequests = memo["relists"]
    if relists.listed(namespace, loop.time()):
        loop.call_later(relists.quiet, memo["relist"], namespace)
    return before


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
    drift: DriftScraper | None = memo.get("drift")
    if drift is not None:
        drift.close()
    gates: GateChecker | None = memo.get("gates")
    if gates is not None:
        gates.close()
    notifier: Notifier | None = memo.get("notifier")
    if notifier is not None:
        notifier.close()
    holding = memo.get("holding")
    if holding is not None:
        holding.cancel()
    for task in list(memo.get("relist_tasks") or ()):
        task.cancel()
    elector: LeaderElector | None = memo.get("elector")
    if elector is not None:
        elector.release()
    endpoint = memo.get("endpoint")
    if endpoint is not None:
        await endpoint.cleanup()


@kopf.on.event(names.GROUP, names.VERSION, names.PLURAL)
async def reconcile_when_model_deployment_changes(
    *, event: kopf.RawEvent, namespace: str | None, name: str, memo: kopf.Memo, **_: Any
) -> None:
    _observe(memo, names.KIND, event)
    if namespace is not None:  # the CRD is namespaced: always set
        memo["queue"].nudge((namespace, name))


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def nudge_owner_when_training_job_changes(
    *,
    event: kopf.RawEvent,
    namespace: str | None,
    labels: Mapping[str, str],
    memo: kopf.Memo,
    **_: Any,
) -> None:
    _observe(memo, "Job", event)
    if namespace is not None:
        memo["queue"].nudge((namespace, labels[names.LABEL_MODEL]))


@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
async def nudge_owner_when_serving_deployment_changes(
    *,
    event: kopf.RawEvent,
    namespace: str | None,
    labels: Mapping[str, str],
    memo: kopf.Memo,
    **_: Any,
) -> None:
    _observe(memo, "Deployment", event)
    if namespace is not None:
        memo["queue"].nudge((namespace, labels[names.LABEL_MODEL]))


@kopf.on.event("v1", "pods", labels=OWNED)
async def nudge_owner_when_pod_readiness_changes(
    *,
    event: kopf.RawEvent,
    namespace: str | None,
    labels: Mapping[str, str],
    memo: kopf.Memo,
    **_: Any,
) -> None:
    before = _observe(memo, "Pod", event)
    if namespace is not None and readiness_changed(before, event.get("type"), event["object"]):
        memo["queue"].nudge((namespace, labels[names.LABEL_MODEL]))


# Read by ticks from the cache only; their changes show in the Jobs and Deployments above.


@kopf.on.event("apps", "v1", "replicasets", labels=OWNED)
async def cache_owned_replica_sets(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _observe(memo, "ReplicaSet", event)


@kopf.on.event("v1", "services", labels=OWNED)
async def cache_owned_services(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _observe(memo, "Service", event)


@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", labels=OWNED)
async def cache_owned_autoscalers(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _observe(memo, "HorizontalPodAutoscaler", event)
