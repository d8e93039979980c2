"""Leader election over a Lease: who may act, judged by each replica's own clock."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from operator_fakes import FakeCluster

from modelpilot.operator.leader import LeaderElector


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def elector(cluster: FakeCluster, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(
        cluster,
        namespace="sys",
        name="modelpilot-operator",
        identity=identity,
        lease_seconds=8,
        renew_deadline=6,
        clock=clock,
    )


def holder(cluster: FakeCluster) -> str:
    lease = cluster.get("Lease", "sys", "modelpilot-operator")
    assert lease is not None
    return lease["spec"]["holderIdentity"]


def test_the_first_replica_creates_the_lease_and_the_second_stands_by() -> None:
    cluster, clock = FakeCluster(), Clock()
    a, b = elector(cluster, "a", clock), elector(cluster, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert holder(cluster) == "a"


def test_a_renewing_leader_keeps_the_lease_however_long_the_standby_waits() -> None:
    cluster, clock = FakeCluster(), Clock()
    a, b = elector(cluster, "a", clock), elector(cluster, "b", clock)
    a.try_acquire_or_renew()
    for _ in range(30):
        clock.now += 2
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
    assert holder(cluster) == "a"


def test_the_standby_takes_over_once_the_lease_expires_by_its_own_clock() -> None:
    cluster, clock = FakeCluster(), Clock()
    a, b = elector(cluster, "a", clock), elector(cluster, "b", clock)
    a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b starts its clock on the record it saw
    clock.now += 8  # not yet *more* than the duration
    assert not b.try_acquire_or_renew()
    clock.now += 1
    assert b.try_acquire_or_renew()
    lease = cluster.get("Lease", "sys", "modelpilot-operator")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1
    # The old leader, come back, finds it taken and does not act.
    assert not a.try_acquire_or_renew()


def test_a_standby_that_just_started_waits_a_full_lease_duration() -> None:
    """It never compares the Lease's renewTime with its own clock (clocks differ)."""
    cluster, clock = FakeCluster(), Clock()
    elector(cluster, "a", clock).try_acquire_or_renew()
    clock.now += 1000  # a's renewTime is ancient by this clock, but b has seen nothing yet
    late = elector(cluster, "b", clock)
    assert not late.try_acquire_or_renew()


def test_a_released_lease_is_taken_at_once() -> None:
    cluster, clock = FakeCluster(), Clock()
    a, b = elector(cluster, "a", clock), elector(cluster, "b", clock)
    a.try_acquire_or_renew()
    a.leading = True
    assert not b.try_acquire_or_renew()
    a.release()
    assert b.try_acquire_or_renew()
    assert holder(cluster) == "b"


# Issue 21 §5: renewals ran on the ticks' thread pool (asyncio.to_thread) and an in-flight
# renewal was waited for without bound. Both tests below failed on main (seen): with the
# pool saturated no renewal ran and on_lost was never called; with a hung renewal, hold()
# hung with it. Real time here is tenths of a second: the deadline is what is tested.


class HangingCluster(FakeCluster):
    """Reads of the Lease hang once `hang` is set (an apiserver that stopped answering)."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = threading.Event()
        self.release = threading.Event()
        self.reads = 0

    def get(self, kind, namespace, name):
        if kind == "Lease":
            self.reads += 1
            if self.hang.is_set():
                self.release.wait(10)
        return super().get(kind, namespace, name)


def fast(cluster: FakeCluster) -> LeaderElector:
    return LeaderElector(
        cluster,
        namespace="sys",
        name="modelpilot-operator",
        identity="a",
        lease_seconds=2.0,
        renew_deadline=0.3,
        retry_seconds=0.02,
    )


def test_a_leader_renews_while_every_tick_worker_is_busy() -> None:
    cluster = HangingCluster()
    leader, lost = fast(cluster), []
    busy = threading.Event()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ticks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tick")
        loop.set_default_executor(ticks)
        await leader.acquire()
        for _ in range(2):  # the tick pool, saturated by long ticks
            loop.run_in_executor(None, busy.wait, 5)
        holding = asyncio.create_task(leader.hold(on_lost=lambda: lost.append(True)))
        start, reads = time.monotonic(), cluster.reads
        while time.monotonic() - start < 1.0 and not lost:  # > 3 renew deadlines
            await asyncio.sleep(0.05)
        renewed = cluster.reads - reads
        holding.cancel()
        busy.set()
        assert not lost and renewed >= 5, (lost, renewed)

    asyncio.run(scenario())


def test_a_leader_whose_renewal_hangs_stops_acting_by_the_deadline() -> None:
    cluster = HangingCluster()
    leader, lost = fast(cluster), []

    async def scenario() -> float:
        await leader.acquire()
        cluster.hang.set()
        start = time.monotonic()
        await asyncio.wait_for(leader.hold(on_lost=lambda: lost.append(True)), timeout=5)
        return time.monotonic() - start

    try:
        took = asyncio.run(scenario())
    finally:
        cluster.release.set()
    assert lost == [True] and not leader.leading
    assert took < 2.0  # by the deadline (0.3 s), before the Lease (2 s) can expire
