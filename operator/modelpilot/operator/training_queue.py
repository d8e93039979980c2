"""At most N training Jobs at once, granted fairly across namespaces.

A hundred ModelDeployments applied together used to start a hundred training pods on a
2-core node. A tick whose plan wants to create a training Job now asks `TrainingSlots`
first: granted, the Job is created; otherwise the Job waits (status says `queued for
training (N ahead)`) and the tick is nudged again when a slot frees.

Fairness: waiters queue per namespace (first come, first served within it), and the
namespaces take turns, so one team applying 400 models does not starve another's one.

The slots are process memory, rebuilt from what ticks observe: a tick that sees its Job
running holds a slot (`hold`), whoever granted it. Hazard: in the first seconds after a
restart, ticks wanting a new Job may be granted before the ticks that will report running
Jobs have run, so the cap can be exceeded once by at most `limit` Jobs; it holds again as
those finish. Decisions here are pure bookkeeping (no I/O, no clock); thread-safe, as ticks
run in worker threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Granted:
    pass


@dataclass(frozen=True)
class Queued:
    ahead: int  # waiters that get a slot before this one

    @property
    def message(self) -> str:
        return f"queued for training ({self.ahead} ahead)"


class TrainingSlots:
    def __init__(self, limit: int, *, wake: Callable[[Key], None] | None = None) -> None:
        if limit < 1:
            raise ValueError(f"the training limit must be at least 1, got {limit}")
        self.limit = limit
        self._wake = wake
        self._running: set[Key] = set()
        # namespace -> its waiters in arrival order.
        self._waiting: OrderedDict[str, OrderedDict[Key, None]] = OrderedDict()
        # namespace -> when it was last granted a slot (a sequence number): the namespace
        # served longest ago (or never) goes first.
        self._served: dict[str, int] = {}
        self._grants = 0
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def queued(self) -> int:
        return sum(len(keys) for keys in self._waiting.values())

    def order(self) -> list[Key]:
        """The waiters in the order they will be granted: namespaces take turns."""
        with self._lock:
            return self._order()

    def _order(self) -> list[Key]:
        turns = sorted(self._waiting, key=lambda ns: self._served.get(ns, -1))  # stable
        queues = [list(self._waiting[ns]) for ns in turns]
        out: list[Key] = []
        for turn in range(max((len(q) for q in queues), default=0)):
            out += [q[turn] for q in queues if turn < len(q)]
        return out

    def hold(self, key: Key) -> None:
        """Its Job runs (observed): it occupies a slot, whoever granted it."""
        with self._lock:
            self._drop_waiter(key)
            self._running.add(key)

    def request(self, key: Key) -> Granted | Queued:
        """Its plan wants to create the Job now."""
        with self._lock:
            if key in self._running:
                return Granted()
            waiters = self._waiting.setdefault(key[0], OrderedDict())
            waiters.setdefault(key, None)
            order = self._order()
            ahead = order.index(key)
            free = self.limit - len(self._running)
            if ahead < free:
                self._drop_waiter(key)
                self._running.add(key)
                self._grants += 1
                self._served[key[0]] = self._grants  # its turn: to the back of the line
                return Granted()
            return Queued(ahead=ahead - max(free, 0))

    def release(self, key: Key) -> None:
        """It no longer trains nor waits (Job finished, spec changed, object deleted)."""
        with self._lock:
            freed = key in self._running
            self._running.discard(key)
            self._drop_waiter(key)
            woken = self._order()[: max(0, self.limit - len(self._running))] if freed else []
        if self._wake is not None:
            for waiter in woken:
                self._wake(waiter)

    def _drop_waiter(self, key: Key) -> None:
        waiters = self._waiting.get(key[0])
        if waiters is not None:
            waiters.pop(key, None)
            if not waiters:
                del self._waiting[key[0]]
