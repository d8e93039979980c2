"""Sending spec.notifications: a bounded queue and one sender thread, never a tick's time.

A tick hands its notices (modelpilot.operator.rollout.notices) to `Notifier.publish`, which
renders them and puts them on a bounded queue without waiting: when the queue is full the
notice is dropped and counted (modelpilot_notifications_total{outcome="dropped"}), because a
receiver that is down must never slow the rollouts. One thread sends the queue in order, so
each receiver sees a ModelDeployment's events in the order they happened. A failed POST (a
connection error, a timeout, 429 or 5xx) is tried again with exponential backoff, a few times;
another 4xx is not (the receiver will not change its mind), and both count as failed. No
redirect is followed, and only URLs the webhook allowlist allows are ever posted to (a spec
naming another is refused before, with Stalled=True naming the URL).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx

from modelpilot.api.spec import Notification
from modelpilot.operator.rollout.notices import Notice, cloudevent, slack
from modelpilot.operator.rollout.policy import url_allowed

log = logging.getLogger("modelpilot.operator")

QUEUE_CAPACITY = 1000
ATTEMPTS = 4  # the first try and three retries
BACKOFF_SECONDS = 1.0  # 1 s, 2 s, 4 s between the tries
TIMEOUT_SECONDS = 5.0
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
OUTCOMES = ("sent", "failed", "dropped")


@dataclass(frozen=True)
class Delivery:
    url: str
    body: bytes
    content_type: str
    what: str  # for the log: "Promoted ml/iris"


class Answer:
    """What one POST came to: delivered, or failed (and whether to try again)."""

    def __init__(self, ok: bool, detail: str, retry: bool) -> None:
        self.ok, self.detail, self.retry = ok, detail, retry


Post = Callable[[Delivery], Answer]


def http_post(client: httpx.Client, timeout: float = TIMEOUT_SECONDS) -> Post:
    def post(delivery: Delivery) -> Answer:
        try:
            response = client.post(
                delivery.url,
                content=delivery.body,
                headers={"Content-Type": delivery.content_type},
                timeout=timeout,
            )
        except httpx.HTTPError as error:
            return Answer(False, f"{type(error).__name__}: {str(error)[:200]}", retry=True)
        code = response.status_code
        if 200 <= code < 300:
            return Answer(True, f"HTTP {code}", retry=False)
        return Answer(False, f"HTTP {code}", retry=code == 429 or code >= 500)

    return post


class Notifier:
    def __init__(
        self,
        *,
        allowlist: tuple[str, ...],
        post: Post | None = None,
        capacity: int = QUEUE_CAPACITY,
        attempts: int = ATTEMPTS,
        backoff_seconds: float = BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        count: Callable[[str], None] | None = None,
        start: bool = True,
    ) -> None:
        self._allowlist = allowlist
        self._client: httpx.Client | None = None
        if post is None:
            self._client = httpx.Client(follow_redirects=False)
            post = http_post(self._client)
        self._post = post
        self._queue: queue.Queue[Delivery | None] = queue.Queue(maxsize=capacity)
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._count = count
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        if start:
            self._thread.start()

    def publish(
        self,
        targets: Sequence[Notification],
        notices: Sequence[Notice],
        *,
        namespace: str,
        name: str,
        uid: str,
        now: datetime,
    ) -> None:
        """Queue each notice for each target that wants it; never waits."""
        for notice in notices:
            for target in targets:
                if not target.wants(notice.event) or not url_allowed(target.url, self._allowlist):
                    continue
                if target.format == "slack":
                    body, content_type = (
                        slack(notice, namespace=namespace, name=name),
                        "application/json",
                    )
                else:
                    body = cloudevent(
                        notice,
                        namespace=namespace,
                        name=name,
                        uid=uid,
                        event_id=uuid.uuid4().hex,
                        time=now,
                    )
                    content_type = CLOUDEVENTS_JSON
                delivery = Delivery(
                    target.url,
                    json.dumps(body).encode(),
                    content_type,
                    f"{notice.event.value} {namespace}/{name}",
                )
                try:
                    self._queue.put_nowait(delivery)
                except queue.Full:
                    self._counted("dropped")
                    log.warning(
                        "notification %s to %s dropped: the queue is full (%d)",
                        delivery.what,
                        delivery.url,
                        self._queue.maxsize,
                    )

    def _counted(self, outcome: str) -> None:
        self.counts[outcome] += 1
        if self._count is not None:
            self._count(outcome)

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            self.deliver(delivery)

    def deliver(self, delivery: Delivery) -> bool:
        """POST one notification, retrying with backoff; True when it was delivered."""
        answer = Answer(False, "not sent", retry=False)
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                answer = self._post(delivery)
            except Exception as error:  # a bug in a receiver's answer must not kill the thread
                answer = Answer(False, f"{type(error).__name__}: {error}", retry=False)
            if answer.ok or not answer.retry:
                break
        if answer.ok:
            self._counted("sent")
            return True
        self._counted("failed")
        log.warning("notification %s to %s failed: %s", delivery.what, delivery.url, answer.detail)
        return False

    def close(self, timeout: float = 2.0) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        if self._client is not None:
            self._client.close()
