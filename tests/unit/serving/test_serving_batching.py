"""Micro-batching: concurrent requests share predict calls and each gets its own answer."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from modelpilot.serving.batching import MicroBatcher
from modelpilot.serving.errors import PredictionFailed
from modelpilot.serving.model import Prediction


def test_1000_concurrent_distinct_rows_each_get_their_own_prediction(
    regression_server, regression_bundle
):
    url, app = regression_server
    rows = regression_bundle.X[:1000]
    expected = regression_bundle.estimator.predict(rows)
    stats = app.state.service.batcher.stats
    batches_before = stats.batches

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        # A request waits for one of the 200 connections for as long as the 999 before it
        # take: on a loaded CI machine that queue passed a 60 s pool timeout (PoolTimeout) while
        # every answer was right. The pool wait is unbounded; each request's own I/O is not.
        timeout = httpx.Timeout(120, pool=None)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

            async def one(i: int) -> httpx.Response:
                if i % 2:
                    return await client.post(
                        "/v1/models/house:predict", json={"instances": [rows[i].tolist()]}
                    )
                body = {
                    "inputs": [
                        {"name": "x", "shape": [1, 6], "datatype": "FP64", "data": rows[i].tolist()}
                    ]
                }
                return await client.post("/v2/models/house/infer", json=body)

            return await asyncio.gather(*(one(i) for i in range(len(rows))))

    responses = asyncio.run(send_all())
    for i, response in enumerate(responses):
        assert response.status_code == 200, response.text
        answer = response.json()
        got = answer["predictions"] if i % 2 else answer["outputs"][0]["data"]
        # Exact up to BLAS summation order (a row in a batch of 30 vs alone differs in the
        # last bits); another row's prediction would be off by orders of magnitude more.
        assert got == [pytest.approx(expected[i], rel=1e-9, abs=1e-9)], (
            f"row {i} got another row's prediction"
        )
    # The point of the exercise: far fewer predict calls than requests.
    assert stats.batches - batches_before < len(rows)
    assert stats.largest_batch_requests > 1


def _sum_rows(features: np.ndarray, proba: bool) -> Prediction:
    if (features == 666).any():
        raise PredictionFailed("the model chokes on 666")
    probabilities = np.column_stack([features[:, 0], -features[:, 0]]) if proba else None
    return Prediction(predictions=features.sum(axis=1), probabilities=probabilities)


async def _submit_together(batcher: MicroBatcher, requests: list[tuple[np.ndarray, bool]]):
    await batcher.start()
    try:
        return await asyncio.gather(
            *(batcher.predict(x, proba=p) for x, p in requests), return_exceptions=True
        )
    finally:
        await batcher.stop()


def test_batches_are_bounded_and_results_routed_in_order():
    batcher = MicroBatcher(_sum_rows, max_batch_rows=10)
    requests = [(np.full((1 + i % 3, 2), float(i)), i % 4 == 0) for i in range(40)]
    results = asyncio.run(_submit_together(batcher, requests))
    for (features, proba), result in zip(requests, results, strict=True):
        assert result.predictions.tolist() == features.sum(axis=1).tolist()
        assert (result.probabilities is not None) == proba
    assert max(batcher.stats.sizes) > 1
    assert batcher.stats.rows == sum(len(x) for x, _ in requests)
    assert batcher.stats.requests == len(requests)


def test_a_failing_request_does_not_fail_its_batch_neighbours():
    batcher = MicroBatcher(_sum_rows, max_batch_rows=100)
    requests = [(np.full((1, 2), 666.0 if i == 3 else float(i)), False) for i in range(8)]
    results = asyncio.run(_submit_together(batcher, requests))
    assert isinstance(results[3], PredictionFailed)
    for i, result in enumerate(results):
        if i != 3:
            assert result.predictions.tolist() == [2.0 * i]


def _slow_sum(features: np.ndarray, proba: bool) -> Prediction:
    import time

    time.sleep(0.02)
    return _sum_rows(features, proba)


def test_adaptive_wait_gathers_the_expected_concurrency_and_idle_never_waits():
    async def scenario():
        batcher = MicroBatcher(_slow_sum, max_batch_rows=1000, max_wait_s=0.05)
        await batcher.start()
        try:
            one = np.ones((1, 2))
            # Idle: a lone request is predicted at once (nothing is expected to join it).
            await batcher.predict(one, proba=False)
            assert batcher.stats.sizes == {1: 1}
            # Four clients: two batches while the batcher learns there are four of them...
            await asyncio.gather(*(batcher.predict(one, proba=False) for _ in range(4)))
            sizes_before = dict(batcher.stats.sizes)
            # ...so when only two have arrived, it waits (bounded) for the other two.
            first = [asyncio.create_task(batcher.predict(one, proba=False)) for _ in range(2)]
            await asyncio.sleep(0.004)
            late = [asyncio.create_task(batcher.predict(one, proba=False)) for _ in range(2)]
            await asyncio.gather(*first, *late)
        finally:
            await batcher.stop()
        return sizes_before, batcher.stats

    sizes_before, stats = asyncio.run(scenario())
    assert stats.sizes[4] == sizes_before.get(4, 0) + 1


def test_predict_after_stop_is_refused():
    from modelpilot.serving.errors import ModelNotReady

    async def scenario():
        batcher = MicroBatcher(_sum_rows, max_batch_rows=10)
        await batcher.start()
        await batcher.stop()
        with pytest.raises(ModelNotReady):
            await batcher.predict(np.ones((1, 2)), proba=False)

    asyncio.run(scenario())
