"""Asking the rollout webhooks (spec.rollout.webhooks), off the reconcile workers.

A tick never waits for a webhook: `GateChecker.answers` returns the newest answer it has
for each webhook of the gate the canary stands at, and starts a call on the checker's own
threads when none is running and the last answer is older than the recheck interval. When
a call ends, the ModelDeployment is woken (`wake`), so an approval is acted on at once. Each
call is bounded by the webhook's timeout (at most 60 s), follows no redirect (an allowed URL
must not lead elsewhere) and reads no body: only the status code counts, 2xx passes.

The answers are observations, like metrics, kept in memory only: an operator that restarts
asks again. What was decided (a gate passed) is in status. The decision is
modelpilot.operator.rollout.gates.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from modelpilot.api.spec import ModelDeploymentSpec, RolloutWebhook, WebhookType
from modelpilot.api.status import ModelDeploymentStatus
from modelpilot.operator.rollout import canary as canary_math
from modelpilot.operator.rollout.gates import GATE_RECHECK_SECONDS, hooks_of, pending_gate
from modelpilot.operator.rollout.policy import WEBHOOKS, url_allowed
from modelpilot.operator.rollout.world import GateAnswer, World

log = logging.getLogger("modelpilot.operator")
Key = tuple[str, str]  # (namespace, name)
# (ModelDeployment, revision, gate type, URL): one answer each.
AnswerKey = tuple[Key, str, str, str]
# Post a JSON payload to a webhook within a timeout; returns the answer.
Caller = Callable[[RolloutWebhook, Mapping[str, Any]], GateAnswer]


def http_caller(client: httpx.Client) -> Caller:
    def call(hook: RolloutWebhook, payload: Mapping[str, Any]) -> GateAnswer:
        seconds = hook.timeout_seconds
        try:
            with client.stream(
                "POST", hook.url, json=dict(payload), timeout=httpx.Timeout(seconds)
            ) as response:
                code = response.status_code
        except httpx.TimeoutException:
            return GateAnswer(False, f"no answer within {seconds:g}s")
        except httpx.HTTPError as error:
            # httpx names the failure (refused, unreachable), never a body.
            return GateAnswer(False, f"{type(error).__name__}: {str(error)[:200]}")
        return GateAnswer(200 <= code < 300, f"HTTP {code}")

    return call


class GateChecker:
    def __init__(
        self,
        *,
        allowlist: tuple[str, ...],
        wake: Callable[[Key], None] | None = None,
        caller: Caller | None = None,
        recheck_seconds: float = GATE_RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        workers: int = 4,
        submit: Callable[..., object] | None = None,
    ) -> None:
        """`submit(fn, *args)` runs a call; by default on the checker's own threads (tests
        pass one that runs it at once)."""
        self._allowlist = allowlist
        self._wake = wake
        self._client: httpx.Client | None = None
        if caller is None:
            self._client = httpx.Client(follow_redirects=False)
            caller = http_caller(self._client)
        self._call = caller
        self._recheck = recheck_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[AnswerKey, tuple[GateAnswer, float]] = {}
        self._inflight: set[AnswerKey] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gate")
        self._submit = submit or self._pool.submit

    def answers(
        self,
        key: Key,
        revision: str,
        kind: WebhookType,
        hooks: Sequence[RolloutWebhook],
        payload: Mapping[str, Any],
    ) -> dict[str, GateAnswer]:
        """The newest answer of each webhook by URL (absent: none yet); asks again when due."""
        now = self._clock()
        asks = []
        with self._lock:
            # Only this revision's answers are worth keeping for this ModelDeployment.
            for stale in [k for k in self._answers if k[0] == key and k[1] != revision]:
                del self._answers[stale]
            for hook in hooks:
                answer_key = (key, revision, kind.value, hook.url)
                known = self._answers.get(answer_key)
                due = known is None or now - known[1] >= self._recheck
                if due and answer_key not in self._inflight:
                    self._inflight.add(answer_key)
                    asks.append((answer_key, hook))
        for answer_key, hook in asks:
            self._submit(self._ask, answer_key, hook, dict(payload))
        with self._lock:
            return {
                hook.url: found[0]
                for hook in hooks
                if (found := self._answers.get((key, revision, kind.value, hook.url)))
            }

    def _ask(self, answer_key: AnswerKey, hook: RolloutWebhook, payload: dict[str, Any]) -> None:
        try:
            if not url_allowed(hook.url, self._allowlist):
                answer = GateAnswer(False, f"not allowed by {WEBHOOKS}")
            else:
                answer = self._call(hook, payload)
        except Exception as error:  # a bug must not leave the gate waiting forever
            log.warning("asking webhook %s failed", hook.url, exc_info=True)
            answer = GateAnswer(False, f"{type(error).__name__}: {str(error)[:200]}")
        with self._lock:
            self._answers[answer_key] = (answer, self._clock())
            self._inflight.discard(answer_key)
        if self._wake is not None:
            self._wake(answer_key[0])

    def forget(self, key: Key) -> None:
        with self._lock:
            for gone in [k for k in self._answers if k[0] == key]:
                del self._answers[gone]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()


def observe_gates(
    world: World,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    checker: GateChecker | None,
) -> World:
    """`world` with the answers of the gate the canary stands at (none: unchanged)."""
    if checker is None:
        return world
    spec = canary_math.spec_with_started_rollout(spec, status)
    kind = pending_gate(spec, status)
    if kind is None:
        return world
    canary, stable = status.canary, status.stable
    assert canary is not None and stable is not None
    payload = {
        "type": kind.value,
        "name": world.name,
        "namespace": world.namespace,
        "revision": canary.revision,
        "stableRevision": stable.revision,
        "weight": canary.weight,
        "step": canary.step,
    }
    answers = checker.answers(
        (world.namespace, world.name), canary.revision, kind, hooks_of(spec, kind), payload
    )
    return dataclasses.replace(world, gate_answers=answers)
