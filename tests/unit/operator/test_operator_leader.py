"""Leader election over a Lease: who may act, judged by each replica's own clock."""

from __future__ import annotations

from operator_fakes import FakeCluster

from modelpilot.operator.leader import LeaderElector


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def elector(cluster: FakeCluster, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(cluster, namespace="sys", name="modelpilot-operator", identity=identity,
                         lease_seconds=8, renew_deadline=6, clock=clock)


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
