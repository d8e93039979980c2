"""One acting operator among replicas: a coordination.k8s.io Lease, as client-go's leader
election holds it.

The chart may run two operator pods; only the Lease's holder watches and reconciles, the
other stands by (healthy, serving /metrics with `modelpilot_leader 0`) until the Lease
expires, then takes it and starts from the status, which holds all progress. Decisions are
the pure `judge()`; `LeaderElector` does the I/O.

Hazards and the decisions they led to:
- Clocks differ between pods, so expiry is judged by *this* process's clock from when it
  last saw the Lease's record change (client-go's observedTime), never by comparing
  `renewTime` with local time.
- A leader that cannot renew within `renew_deadline` (shorter than the Lease's duration)
  stops acting at once: it exits the process, as controller-runtime does, rather than risk
  two operators acting. The Deployment restarts it as a standby.
- A leader that stops gracefully (helm upgrade, drain) releases the Lease, so its
  successor need not wait for expiry.
- Renewals run on a thread of their own, never the ticks' pool, and each is waited for
  only until the renew deadline (issue 21 §5): with every tick worker busy, a renewal queued
  behind them would wait past the Lease's expiry while this leader kept acting, and a hung
  request would hold `hold()` forever. A renewal that has not returned by the deadline
  counts as failed, and the leader stops acting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from modelpilot.operator.cluster import Cluster
from modelpilot.operator.errors import AlreadyExists, ApiError, Conflict

log = logging.getLogger("modelpilot.operator.leader")
MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class LeaseDecision(StrEnum):
    TAKE = "take"  # nobody holds it, it expired, or it is ours: write ourselves in
    WAIT = "wait"  # another holder whose Lease has not expired by our clock


@dataclass(frozen=True)
class Observation:
    """The Lease's record as last seen, and when (monotonic seconds) it last changed."""

    record: tuple[Any, ...]
    changed_at: float


def record_of(lease: dict[str, Any] | None) -> tuple[Any, ...]:
    spec = (lease or {}).get("spec") or {}
    return (
        spec.get("holderIdentity"),
        spec.get("renewTime"),
        spec.get("leaseDurationSeconds"),
        spec.get("leaseTransitions"),
    )


def judge(
    lease: dict[str, Any] | None,
    *,
    identity: str,
    seen: Observation | None,
    now: float,
) -> LeaseDecision:
    """Whether to write ourselves into the Lease now (pure; `now` is monotonic seconds)."""
    spec = (lease or {}).get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    if lease is None or holder in ("", identity):
        return LeaseDecision.TAKE
    if seen is None or seen.record != record_of(lease):
        return LeaseDecision.WAIT  # just changed: its holder renewed; the clock starts now
    duration = float(spec.get("leaseDurationSeconds") or 0)
    return LeaseDecision.TAKE if now - seen.changed_at > duration else LeaseDecision.WAIT


class LeaderElector:
    def __init__(
        self,
        cluster: Cluster,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: float = 8.0,
        renew_deadline: float = 6.0,
        retry_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert renew_deadline < lease_seconds, "a leader must give up before it can be replaced"
        self._cluster = cluster
        self.namespace, self.name, self.identity = namespace, name, identity
        self._lease_seconds = lease_seconds
        self._renew_deadline = renew_deadline
        self._retry = retry_seconds
        self._clock = clock
        self._seen: Observation | None = None
        self.leading = False
        # One thread for the Lease alone (see the module docstring); a renewal stuck in it
        # only delays the next, and the deadline still counts.
        self._renewer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lease")

    def try_acquire_or_renew(self) -> bool:
        """One attempt (blocking I/O): True when we hold the Lease afterwards."""
        try:
            lease = self._cluster.get("Lease", self.namespace, self.name)
        except ApiError as exc:
            log.warning("reading Lease %s/%s: %s", self.namespace, self.name, exc)
            return False
        now = self._clock()
        if lease is not None and (self._seen is None or self._seen.record != record_of(lease)):
            self._seen = Observation(record_of(lease), now)
        if judge(lease, identity=self.identity, seen=self._seen, now=now) is LeaseDecision.WAIT:
            return False
        stamp = datetime.now(UTC).strftime(MICROTIME)
        spec = dict((lease or {}).get("spec") or {})
        taking_over = spec.get("holderIdentity") != self.identity
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=int(self._lease_seconds),
            renewTime=stamp,
        )
        if taking_over:
            spec["acquireTime"] = stamp
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
                1 if lease is not None else 0
            )
        try:
            if lease is None:
                written = self._cluster.create(
                    "Lease",
                    self.namespace,
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": self.namespace},
                        "spec": spec,
                    },
                )
            else:  # the resourceVersion in `lease` makes a racing writer fail with Conflict
                written = self._cluster.replace(
                    "Lease", self.namespace, self.name, {**lease, "spec": spec}
                )
        except (AlreadyExists, Conflict):
            return False
        except ApiError as exc:
            log.warning("writing Lease %s/%s: %s", self.namespace, self.name, exc)
            return False
        self._seen = Observation(record_of(written), self._clock())
        return True

    async def acquire(self) -> None:
        """Wait until we lead."""
        log.info("%s: waiting to lead (Lease %s/%s)", self.identity, self.namespace, self.name)
        loop = asyncio.get_running_loop()
        while not await loop.run_in_executor(self._renewer, self.try_acquire_or_renew):
            await asyncio.sleep(self._retry)
        self.leading = True
        log.info("%s: leading (Lease %s/%s)", self.identity, self.namespace, self.name)

    async def hold(self, on_lost: Callable[[], None]) -> None:
        """Renew until cancelled; call `on_lost` (which must stop all acting) when a renewal
        has not succeeded for `renew_deadline` seconds."""
        loop = asyncio.get_running_loop()
        last_renewed = self._clock()
        while True:
            await asyncio.sleep(self._retry)
            left = self._renew_deadline - (self._clock() - last_renewed)
            attempt = loop.run_in_executor(self._renewer, self.try_acquire_or_renew)
            try:
                renewed = await asyncio.wait_for(asyncio.shield(attempt), max(left, 0.0))
            except TimeoutError:
                renewed = False  # still in flight at the deadline: not renewed in time
            if renewed:
                last_renewed = self._clock()
            elif self._clock() - last_renewed >= self._renew_deadline:
                self.leading = False
                log.critical("%s: lost the Lease; stopping", self.identity)
                on_lost()
                return

    def release(self) -> None:
        """Give the Lease up (graceful stop), so a standby takes over without waiting."""
        if not self.leading:
            return
        self.leading = False
        try:
            lease = self._cluster.get("Lease", self.namespace, self.name)
            if lease is None or lease.get("spec", {}).get("holderIdentity") != self.identity:
                return
            spec = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
            self._cluster.replace("Lease", self.namespace, self.name, {**lease, "spec": spec})
        except ApiError as exc:  # it expires on its own
            log.warning("releasing Lease %s/%s: %s", self.namespace, self.name, exc)
