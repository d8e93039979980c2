"""One reconcile loop per ModelDeployment, woken by watch events or its requeue time.

Watch events of a ModelDeployment and of the Jobs and Deployments it owns only *nudge* its
loop; the loop runs one tick at a time, so two ticks of one object never overlap, and
nudges that arrive during a tick coalesce into one more tick. This is controller-runtime's
work queue in a few lines. It holds no state worth keeping: after a restart, kopf's initial
listing nudges every object and the status tells each loop where it was. (Kopf daemons
would do the same but put a finalizer on every object, so a ModelDeployment could not be
deleted while the operator is down.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from modelpilot.operator.errors import ApiError, Conflict
from modelpilot.operator.reconcile import TickResult

log = logging.getLogger("modelpilot.operator")
Key = tuple[str, str]  # (namespace, name)


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
    ) -> None:
        self._tick = tick
        self._resync = resync_seconds
        self._max_backoff = max_backoff
        self._loops: dict[Key, _Loop] = {}
        self._stopping = False

    def nudge(self, key: Key) -> None:
        if self._stopping:
            return
        loop = self._loops.get(key)
        if loop is None:
            loop = self._loops[key] = _Loop()
            loop.task = asyncio.create_task(self._run(key, loop), name=f"reconcile {key}")
        loop.wake.set()

    async def _run(self, key: Key, loop: _Loop) -> None:
        failures = 0
        try:
            while True:
                loop.wake.clear()
                try:
                    result = await asyncio.to_thread(self._tick, key)
                    failures = 0
                except Conflict as exc:
                    log.info("%s/%s: %s; looking again", *key, exc)
                    result, failures = TickResult(requeue_after=0.2), failures + 1
                except (ApiError, OSError) as exc:
                    failures += 1
                    delay = min(self._max_backoff, 2.0 ** min(failures, 6))
                    log.warning("%s/%s: tick failed (%s); retrying in %.0fs", *key, exc, delay)
                    result = TickResult(requeue_after=delay)
                except Exception:
                    failures += 1
                    delay = min(self._max_backoff, 2.0 ** min(failures, 6))
                    log.exception("%s/%s: tick crashed; retrying in %.0fs", *key, delay)
                    result = TickResult(requeue_after=delay)
                if result.gone:
                    return
                timeout = self._resync if result.requeue_after is None else result.requeue_after
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(loop.wake.wait(), timeout=min(timeout, self._resync))
        finally:
            if self._loops.get(key) is loop:
                del self._loops[key]
                if loop.wake.is_set():  # nudged while finishing: someone re-created it
                    self.nudge(key)

    async def stop(self) -> None:
        self._stopping = True
        tasks = [loop.task for loop in self._loops.values() if loop.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
