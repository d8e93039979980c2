"""The watch-fed cache: a tick at rest costs no API call; stale events never win."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from operator_fakes import FakeCluster
from reconcile_world import NAME, NS, SETTINGS, World, summary

from modelpilot.api import names
from modelpilot.operator import handlers
from modelpilot.operator.reconcile import tick
from modelpilot.operator.watch_cache import (
    CACHED_KINDS,
    CachedCluster,
    RelistRequests,
    WatchCache,
    readiness_changed,
)


class Counting:
    """A Cluster that records every call (reads too) and forwards it."""

    def __init__(self, inner: FakeCluster) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, verb: str) -> Any:
        method = getattr(self.inner, verb)

        def call(kind: str, *args: Any) -> Any:
            self.calls.append((verb, kind))
            return method(kind, *args)

        return call

    def replace_status(self, namespace: str, name: str, body: Any) -> Any:
        self.calls.append(("replace_status", names.KIND))
        return self.inner.replace_status(namespace, name, body)


def filled_from(cluster: FakeCluster) -> WatchCache:
    cache = WatchCache()
    for kind in CACHED_KINDS:
        cache.relist(kind, None, list(cluster.of_kind(kind).values()), "")
    return cache


def body(name: str, rv: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "namespace": NS, "resourceVersion": rv, "labels": labels}}


def test_a_model_deployment_at_rest_costs_no_api_call():
    w = World()
    w.tick()
    w.cluster.finish_job(NS, "iris-train-v1", summary("v1", 0.97))
    w.tick()
    w.cluster.make_ready(NS, "iris-v1")
    w.tick()
    w.tick()  # Ready once Service iris, created by the promotion's tick, is seen
    assert w.status().phase == "Serving"
    counting = Counting(w.cluster)
    cached = CachedCluster(counting, filled_from(w.cluster))
    for _ in range(3):
        result = tick(cached, SETTINGS, NS, NAME, w.now)
        assert result.plan is not None and result.plan.actions == ()
    assert counting.calls == []


def test_the_first_revision_walks_to_serving_on_the_cache_with_writes_seen_at_once():
    """Writes are written through, so the next tick sees its Job without a watch event."""
    w = World()
    cache = filled_from(w.cluster)
    cached = CachedCluster(w.cluster, cache)
    tick(cached, SETTINGS, NS, NAME, w.now)
    assert cache.list("Job", NS, {names.LABEL_MODEL: NAME})[0]["metadata"]["name"] == (
        "iris-train-v1"
    )
    tick(cached, SETTINGS, NS, NAME, w.now)  # sees its Job: no second create, no conflict
    assert sorted(w.cluster.of_kind("Job")) == ["iris-train-v1"]


def test_an_older_event_never_overwrites_a_newer_body():
    cache = WatchCache()
    cache.observe("Job", "MODIFIED", body("j", "20", state="new"))
    cache.observe("Job", "MODIFIED", body("j", "19", state="old"))
    got = cache.get("Job", NS, "j")
    assert got is not None and got["metadata"]["labels"]["state"] == "new"
    cache.observe("Job", "DELETED", body("j", "21"))
    assert cache.get("Job", NS, "j") is None


def test_a_relist_drops_objects_whose_deleted_event_was_missed_but_not_newer_ones():
    cache = WatchCache()
    cache.observe("Pod", None, body("ghost", "5"))
    cache.observe("Pod", None, body("born-after-the-list", "12"))
    cache.observe("Pod", None, body("kept", "6"))
    cache.relist("Pod", NS, [body("kept", "6")], "10")
    assert [p["metadata"]["name"] for p in cache.list("Pod", NS, {})] == [
        "born-after-the-list",
        "kept",
    ]


def test_lists_select_by_labels_and_namespace():
    cache = WatchCache()
    cache.observe("Service", None, body("iris", "1", model="iris"))
    cache.observe("Service", None, body("wine", "1", model="wine"))
    assert [s["metadata"]["name"] for s in cache.list("Service", NS, {"model": "iris"})] == ["iris"]
    assert cache.list("Service", "elsewhere", {}) == []


def test_a_pod_event_lagging_its_job_s_completion_is_read_afresh():
    """Found by the scale bench: the Job's watch said Complete before the Pod's watch said
    Succeeded, and the revision failed for want of the trainer's summary."""
    cluster = FakeCluster()
    labels = {names.LABEL_MODEL: NAME, "job-name": "iris-train-v1"}
    job = cluster.create(
        "Job",
        NS,
        {
            "metadata": {"name": "iris-train-v1", "labels": labels},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]},
        },
    )
    pod = cluster.create(
        "Pod",
        NS,
        {"metadata": {"name": "iris-train-v1-x", "labels": labels}, "status": {"phase": "Running"}},
    )
    cache = WatchCache()
    cache.observe("Job", "MODIFIED", job)
    cache.observe("Pod", "MODIFIED", pod)  # the stale picture
    cluster.objects[("Pod", NS, "iris-train-v1-x")]["status"] = {"phase": "Succeeded"}
    cached = CachedCluster(cluster, cache)
    (got,) = cached.list("Pod", NS, {names.LABEL_MODEL: NAME})
    assert got["status"]["phase"] == "Succeeded"


def test_a_listing_burst_is_relisted_once_when_it_is_over():
    """A restarted operator at N=500 relisted every namespace again and again while kopf's
    listing of 5,000 objects went on (each asked anew once the last relist had started)."""
    requests = RelistRequests(quiet=5)
    assert requests.listed("a", now=0) is True  # schedule a check in 5 s
    assert requests.listed("a", now=1) is False  # the burst goes on: already scheduled
    assert requests.listed("a", now=4) is False
    assert requests.due("a", now=5) == 4  # last event at 4: look again at 9
    assert requests.listed("b", now=6) is True  # namespaces apart
    assert requests.due("a", now=9) is None  # quiet for 5 s: relist now, once
    assert requests.listed("a", now=30) is True  # a later listing starts anew


def _memo(relisted: list) -> kopf.Memo:
    memo = kopf.Memo()
    memo["cache"] = WatchCache()
    memo["relists"] = RelistRequests(quiet=0.3)
    memo["relist_everywhere"] = False

    def relist(namespace):
        loop = asyncio.get_running_loop()
        wait = memo["relists"].due(namespace, loop.time())
        if wait is not None:
            loop.call_later(wait, relist, namespace)
            return
        relisted.append(namespace)

    memo["relist"] = relist
    return memo


RESOLUTION = 1e-6


class LoopClock:
    """The running loop's clock and timers as the handlers use them (`time`, `call_later`),
    moved on by the test: the debounce runs through its seconds without any passing."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, int, Any, tuple]] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback, *args) -> None:
        # A delay below the clock's resolution still moves time on (asyncio's loop fires
        # timers within its resolution late, not early): 0.3 - (now - last) in floats can
        # be so small that now + delay == now, and the debounce would ask again forever.
        when = self.now + max(delay, RESOLUTION)
        self.timers.append((when, len(self.timers), callback, args))

    def advance(self, seconds: float) -> None:
        """Run every timer due by now + seconds, in order (a timer may add timers)."""
        end = self.now + seconds
        while due := [t for t in self.timers if t[0] <= end]:
            timer = min(due)
            self.timers.remove(timer)
            self.now = timer[0]
            timer[2](*timer[3])
        self.now = end


def test_watch_events_at_rest_never_relist_only_a_kopf_listing_does(monkeypatch):
    """A LIST of every kind every resync was seven API requests a minute at rest with five
    namespaces; the cache is listed again only after kopf listed (its watch restarted)."""
    relisted: list = []
    memo = _memo(relisted)
    clock = LoopClock()

    async def scenario():
        loop = asyncio.get_running_loop()
        with monkeypatch.context() as patch:
            patch.setattr(loop, "time", clock.time)
            patch.setattr(loop, "call_later", clock.call_later)
            for kind in ("Job", "Pod", names.KIND):
                handlers._observe(memo, kind, {"type": "MODIFIED", "object": body("x", "5")})
            clock.advance(1.0)
            assert relisted == []
            for name in ("a", "b", "c", "d", "e"):  # a slow listing's burst: one relist after it
                handlers._observe(memo, "Job", {"type": None, "object": body(name, "6")})
                clock.advance(0.2)
                assert relisted == []  # the burst goes on (quiet is 0.3 s)
            clock.advance(1.0)

    asyncio.run(scenario())
    assert relisted == [NS]
    assert memo["cache"].get("Job", NS, "e") is not None


def _pod(rv: str, phase: str | None, ready: str | None = None) -> dict:
    pod = body("p", rv)
    pod["status"] = {
        "phase": phase,
        "conditions": [] if ready is None else [{"type": "Ready", "status": ready}],
    }
    return pod


def test_a_pods_own_readiness_event_nudges_its_model_deployment():
    """The Deployment's '1 ready' event came before its pod's; the tick it nudged read the
    pod as not ready, and nothing nudged again when the pod's event came: three of 530
    ModelDeployments sat in Deploying after the N=500 restart until the resync."""
    cache = WatchCache()
    assert readiness_changed(
        cache.observe("Pod", "ADDED", _pod("1", "Pending")), "ADDED", _pod("1", "Pending")
    )
    pending = cache.observe("Pod", "MODIFIED", _pod("2", "Running", "False"))
    assert readiness_changed(pending, "MODIFIED", _pod("2", "Running", "False"))
    ready_before = cache.observe("Pod", "MODIFIED", _pod("3", "Running", "True"))
    assert readiness_changed(ready_before, "MODIFIED", _pod("3", "Running", "True"))
    same = cache.observe("Pod", "MODIFIED", _pod("4", "Running", "True"))
    assert not readiness_changed(same, "MODIFIED", _pod("4", "Running", "True"))
    gone = cache.observe("Pod", "DELETED", _pod("5", "Running", "True"))
    assert readiness_changed(gone, "DELETED", _pod("5", "Running", "True"))
    assert not readiness_changed(None, "DELETED", _pod("6", "Running", "True"))
