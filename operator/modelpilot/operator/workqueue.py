"""One reconcile loop per ModelDeployment, woken by watch events or its requeue time.

Watch events of a ModelDeployment and of the Jobs and Deployments it owns only *nudge* its
loop; the loop runs one tick at a time, so two ticks of one object never overlap, and
nudges that arrive during a tick coalesce into one more tick. This is controller-runtime's
work queue in a few lines. It holds no state worth keeping: after a restart, kopf's initial
listing nudges every object and the status tells each loop where it was. (Kopf daemons
would do the same but put a finalizer on every object, so a ModelDeployment could not be
deleted while the operator is down.)

Failures are acted on by kind (modelpilot.operator.errors): a Conflict looks again soon, an
ApiError (retryable) after an exponential back-off with full jitter, so many objects failing
together do not retry in lockstep; a PermanentError is not retried before the resync (the
tick already wrote Stalled=True; this branch is only a safety net for one that escapes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from modelpilot.operator.errors import ApiError, Conflict, PermanentError
from modelpilot.operator.reconcile import TickResult

log = logging.getLogger("modelpilot.operator")


def _fields(key: tuple[str, str]) -> dict[str, str]:
    """The JSON log line's modeldeployment field (modelpilot.api.logformat)."""
    return {"modeldeployment": "/".join(key)}


Key = tuple[str, str]  # (namespace, name)
# Called after every tick with its outcome (success, conflict, error, crash) and duration.
TickObserver = Callable[[str, float], None]


@dataclass
class _Loop:
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class WorkQueue:
    def __init__(
        self,
        tick: Callable[[Key], TickResult],
        *,
        resync_seconds: float,
        max_backoff: float = 60.0,
        jitter: Callable[[], float] = random.random,
        observe: TickObserver | None = None,
    ) -> None:
        self._tick = tick
        self._resync = resync_seconds
        self._max_backoff = max_backoff
        self._jitter = jitter
        self._observe = observe
        self._loops: dict[Key, _Loop] = {}
        # When each key was first nudged and not yet picked up by a tick: the queue's depth
        # and its oldest item's age (ticks wait here for a worker thread under load).
        self._waiting_since: dict[Key, float] = {}
        self._waiting_lock = threading.Lock()  # worker threads take keys off it
        self._stopping = False

    def depth(self) -> int:
        return len(self._waiting_since)

    def oldest_age(self, now: float | None = None) -> float:
        with self._waiting_lock:
            oldest = min(self._waiting_since.values(), default=None)
        if oldest is None:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - oldest)

    def nudge(self, key: Key) -> None:
        if self._stopping:
            return
        loop = self._loops.get(key)
        if loop is None:
            loop = self._loops[key] = _Loop()
            loop.task = asyncio.create_task(self._run(key, loop), name=f"reconcile {key}")
        with self._waiting_lock:
            self._waiting_since.setdefault(key, time.monotonic())
        loop.wake.set()

    async def _run(self, key: Key, loop: _Loop) -> None:
        failures = 0
        try:
            while True:
                loop.wake.clear()
                with self._waiting_lock:  # a requeue time that came due waits like a nudge
                    self._waiting_since.setdefault(key, time.monotonic())
                outcome, started = "success", [time.monotonic()]
                try:
                    result = await asyncio.to_thread(self._timed_tick, key, started)
                    failures = 0
                except Conflict as exc:
                    failures += 1
                    delay = self.backoff(failures, base=0.2)
                    log.info(
                        "%s/%s: %s; looking again in %.1fs", *key, exc, delay, extra=_fields(key)
                    )
                    result = TickResult(requeue_after=delay)
                    outcome = "conflict"
                except PermanentError as exc:
                    log.error(
                        "%s/%s: %s (%s); retried at the resync",
                        *key,
                        exc,
                        exc.reason,
                        extra=_fields(key),
                    )
                    result = TickResult()
                    outcome = "permanent"
                except (ApiError, OSError) as exc:
                    outcome = "error"
                    failures += 1
                    delay = self.backoff(failures)
                    log.warning(
                        "%s/%s: tick failed (%s); retrying in %.1fs",
                        *key,
                        exc,
                        delay,
                        extra=_fields(key),
                    )
                    result = TickResult(requeue_after=delay)
                except Exception:
                    outcome = "crash"
                    failures += 1
                    delay = self.backoff(failures)
                    log.exception(
                        "%s/%s: tick crashed; retrying in %.1fs", *key, delay, extra=_fields(key)
                    )
                    result = TickResult(requeue_after=delay)
                if self._observe is not None:
                    self._observe(outcome, time.monotonic() - started[0])
                if result.gone:
                    return
                timeout = self._resync if result.requeue_after is None else result.requeue_after
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(loop.wake.wait(), timeout=min(timeout, self._resync))
        finally:
            if self._loops.get(key) is loop:
                del self._loops[key]
                with self._waiting_lock:
                    self._waiting_since.pop(key, None)
                if loop.wake.is_set():  # nudged while finishing: someone re-created it
                    self.nudge(key)

    def backoff(self, failures: int, *, base: float = 2.0) -> float:
        """Seconds before retry number `failures` (1, 2, ...): base * 2^(failures - 1), capped
        at max_backoff, then jittered into [half, all] of it (never zero: no hot loop)."""
        ceiling = min(self._max_backoff, base * 2.0 ** min(failures - 1, 16))
        return ceiling * (0.5 + 0.5 * self._jitter())

    def _timed_tick(self, key: Key, started: list[float]) -> TickResult:
        # The wait ends when a worker thread picks the tick up, not when the task wakes; the
        # tick's duration starts there too.
        with self._waiting_lock:
            self._waiting_since.pop(key, None)
        started[0] = time.monotonic()
        return self._tick(key)

    async def stop(self) -> None:
        self._stopping = True
        tasks = [loop.task for loop in self._loops.values() if loop.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
