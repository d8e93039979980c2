"""Adaptive micro-batching: concurrent requests share one `predict` call.

A forest's predict costs about the same for 1 row as for 32 (per-call overhead dominates),
so under load the server answers many requests for the price of one. One predict runs at a
time in a worker thread; while it runs, arriving requests queue, and when it returns the
queue (up to `max_batch_rows` rows) becomes the next batch.

That alone splits a closed-loop client population into two halves that alternate (one half
predicts while the other is answered and sends again), which on a single core doubles the
number of predict calls. So the batcher also waits, briefly, for the requests it expects:
after a batch it remembers how many requests were outstanding (answered + queued), and the
next batch waits until that many have queued again, bounded by `max_wait_s` and by half of
the last predict's duration. An idle or single-client server never waits (it expects one
request and has it); a busy one forms batches the size of its concurrency.

The event loop never runs predict itself, so it keeps accepting and parsing requests while a
batch computes. Results are routed back by slicing the batch's output in submission order.
If a batch fails, each of its requests is retried alone so one bad request cannot fail its
neighbours.

The queue is bounded (`max_queued`): a request that finds it full is refused at once with
`Overloaded` (503 + Retry-After) instead of waiting behind a backlog the model cannot clear,
so memory stays bounded and clients can retry on another replica.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelNotReady, Overloaded
from .model import Prediction

PredictFn = Callable[[np.ndarray, bool], Prediction]


@dataclass(slots=True)
class _Pending:
    features: np.ndarray
    proba: bool
    future: asyncio.Future[Prediction]


@dataclass(slots=True)
class BatchStats:
    batches: int = 0
    rows: int = 0
    requests: int = 0
    largest_batch_requests: int = 0
    sizes: collections.Counter[int] = field(default_factory=collections.Counter)


class MicroBatcher:
    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch_rows: int,
        max_wait_s: float = 0.002,
        max_queued: int = 256,
    ):
        self._predict = predict
        self._max_rows = max_batch_rows
        self._max_queued = max_queued
        self._max_wait_s = max_wait_s
        self._queue: collections.deque[_Pending] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._expected = 1  # requests outstanding when the last batch finished
        self._last_predict_s = 0.0
        self.stats = BatchStats()

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._task = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None:
            await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def predict(self, features: np.ndarray, *, proba: bool) -> Prediction:
        if self._task is None or self._closing:
            raise ModelNotReady("the server is not accepting predictions (starting or stopping)")
        if len(self._queue) >= self._max_queued:
            raise Overloaded(
                f"{len(self._queue)} requests are already waiting for the model "
                f"(--max-queued-requests {self._max_queued}); retry shortly"
            )
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(features, proba, future))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    # -- the worker loop ------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            wait = min(self._max_wait_s, self._last_predict_s / 2)
            if wait > 0 and len(self._queue) < self._expected:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait_for_company(), wait)
            batch = self._take_batch()
            if batch:
                started = loop.time()
                await self._execute(loop, batch)
                self._last_predict_s = loop.time() - started
                self._expected = len(batch) + len(self._queue)

    async def _wait_for_company(self) -> None:
        assert self._wakeup is not None
        while (
            len(self._queue) < self._expected
            and self._queued_rows() < self._max_rows
            and not self._closing
        ):
            self._wakeup.clear()
            await self._wakeup.wait()

    def _queued_rows(self) -> int:
        return sum(len(p.features) for p in self._queue)

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        queue = self._queue
        while queue:
            pending = queue[0]
            n = len(pending.features)
            if batch and rows + n > self._max_rows:
                break  # stays queued for the next batch
            queue.popleft()
            if pending.future.done():  # the caller went away
                continue
            batch.append(pending)
            rows += n
        return batch

    async def _execute(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        proba = any(p.proba for p in batch)
        if len(batch) == 1:
            features = batch[0].features
        else:
            features = np.concatenate([p.features for p in batch])
        self._record(batch, len(features))
        try:
            result = await loop.run_in_executor(self._executor, self._predict, features, proba)
        except Exception as exc:
            if len(batch) == 1:
                _settle_error(batch[0].future, exc)
                return
            for pending in batch:  # isolate the culprit: retry each request alone
                try:
                    alone = await loop.run_in_executor(
                        self._executor, self._predict, pending.features, pending.proba
                    )
                except Exception as single_exc:
                    _settle_error(pending.future, single_exc)
                else:
                    _settle(pending.future, alone)
            return
        if len(batch) == 1:
            _settle(batch[0].future, result)
            return
        start = 0
        predictions, probabilities = result.predictions, result.probabilities
        for pending in batch:
            stop = start + len(pending.features)
            _settle(
                pending.future,
                Prediction(
                    predictions=predictions[start:stop],
                    probabilities=(
                        probabilities[start:stop]
                        if pending.proba and probabilities is not None
                        else None
                    ),
                ),
            )
            start = stop

    def _record(self, batch: list[_Pending], rows: int) -> None:
        stats = self.stats
        stats.batches += 1
        stats.rows += rows
        stats.requests += len(batch)
        stats.sizes[len(batch)] += 1
        stats.largest_batch_requests = max(stats.largest_batch_requests, len(batch))


def _settle(future: asyncio.Future[Prediction], result: Prediction) -> None:
    if not future.done():
        future.set_result(result)


def _settle_error(future: asyncio.Future[Prediction], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
