"""Reading the stable pods' drift counters when a monitoring window is due (spec.monitoring).

I/O, so it happens here, before plan(), and lands in the frozen World (`drift`); plan() only
judges it (modelpilot.operator.rollout.drift). When a window is due is decided by the same
pure helper plan() uses, so the two never disagree. Errors do not escape: pods that cannot be
read become `ObservedDrift.error`, and Drifted goes Unknown for that window. That holds for
*any* error — a page missing a label, an address that is not one, a bug in a parser — since
a tick that raised would never reach plan(), where `abort` and `promote` are honoured.

Bounded, because the pods are a tenant's (issue 21 §4): every page goes through the
operator's one bounded GET (analysis.fetch: a deadline per request, a size limit), at most
`MAX_PODS` pods are read per window (a sample of the stable pods is enough to judge drift),
and the whole scrape stops at `BUDGET_SECONDS`. The operator scrapes with a `DriftScraper`:
the pages are read on its own threads (`DRIFT_THREADS` of them, shared by every
ModelDeployment), never on the reconcile workers, which only wait — at most
`BUDGET_SECONDS`, whatever the pods do; a pod that has not answered by then is reported in
the window's error and its read is left to finish (or time out) on the drift threads.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from datetime import datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from modelpilot.api import names
from modelpilot.api import serving_metrics as metric_names
from modelpilot.api.drift import (
    FEATURE_BIN_TOTAL,
    FEATURE_REFERENCE_RATIO,
    LABEL_BIN,
    LABEL_FEATURE,
)
from modelpilot.api.feedback import FeedbackStats
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import ModelDeploymentStatus
from modelpilot.operator.rollout.drift import drift_window_due
from modelpilot.operator.rollout.world import ObservedDrift, World

SCRAPE_TIMEOUT_SECONDS = 2.0  # one pod's page, whole (not per read)
MAX_PODS = 10  # stable pods read per window, the first by IP
BUDGET_SECONDS = 5.0  # the whole scrape, every pod
MAX_PAGE_BYTES = 4 * 1024 * 1024
# Pod pages read at once, across every ModelDeployment: a silent pod holds one of these for
# at most SCRAPE_TIMEOUT_SECONDS plus the client's read timeout, never a reconcile worker.
DRIFT_THREADS = 8
_ERROR_CHARS = 1000  # ObservedDrift.error reaches status

# What scrapes one window: (model, revision, the stable pods' IPs) -> ObservedDrift.
Scraper = Callable[[str, str, tuple[str, ...]], ObservedDrift]


def pod_url(ip: str, port: int = names.SERVING_PORT) -> str:
    host = f"[{ip}]" if ":" in ip else ip  # IPv6 pod IPs are bracketed in URLs
    return f"http://{host}:{port}/metrics"


class DriftScraper:
    """The operator's drift scrapes: one HTTP client (pooled connections) and its own
    bounded threads, so the reconcile workers only wait, for at most the budget."""

    def __init__(
        self,
        *,
        threads: int = DRIFT_THREADS,
        budget_seconds: float = BUDGET_SECONDS,
        max_pods: int = MAX_PODS,
        port: int = names.SERVING_PORT,
    ) -> None:
        from modelpilot.operator.analysis import fetch

        self._client = fetch.client()
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="drift-scrape")
        self._budget = budget_seconds
        self._max_pods = max_pods
        self._port = port

    def __call__(self, model: str, revision: str, pod_ips: tuple[str, ...]) -> ObservedDrift:
        return scrape(
            model,
            revision,
            pod_ips,
            client=self._client,
            executor=self._threads,
            max_pods=self._max_pods,
            budget_seconds=self._budget,
            port=self._port,
        )

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def observe_drift(
    world: World,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    *,
    now: datetime,
    client: Any = None,
    scraper: Scraper | None = None,
) -> World:
    """`world` with the stable pods' drift counters filled in when a window is due.

    `scraper`: the operator's DriftScraper; without one the pods are read in turn on this
    thread (tests, and the CLI), still within the budget."""
    if not drift_window_due(spec, status, now):
        return world
    stable = status.stable
    assert stable is not None
    deployment = world.deployments.get(stable.revision)
    ips = () if deployment is None else deployment.pod_ips
    try:
        if scraper is not None:
            drift = scraper(world.name, stable.revision, ips)
        else:
            drift = scrape(world.name, stable.revision, ips, client=client)
    except Exception as error:  # never out of the tick: see the module docstring
        drift = ObservedDrift(
            revision=stable.revision,
            error=f"reading drift failed: {type(error).__name__}: {error}"[:_ERROR_CHARS],
        )
    return dataclasses.replace(world, drift=drift)


def scrape(
    model: str,
    revision: str,
    pod_ips: tuple[str, ...],
    *,
    client: Any = None,
    clock: Callable[[], float] = time.monotonic,
    max_pods: int = MAX_PODS,
    budget_seconds: float = BUDGET_SECONDS,
    executor: Executor | None = None,
    port: int = names.SERVING_PORT,
) -> ObservedDrift:
    """Read up to `max_pods` pods' pages within `budget_seconds`. `client`: an httpx.Client
    (analysis.fetch.client() when None, closed after). With `executor` the pages are read on
    its threads, all at once, and this thread waits for at most the budget (of real time);
    without, in turn on this thread, each read started only while budget is left."""
    from modelpilot.operator.analysis import fetch

    if not pod_ips:
        return ObservedDrift(revision=revision, error="no Ready stable pod to read")
    chosen = sorted(pod_ips)[:max_pods]
    http = fetch.client() if client is None else client
    try:
        if executor is None:
            pages = _read_in_turn(http, chosen, model, revision, clock, budget_seconds, port)
        else:
            pages = _read_at_once(http, chosen, model, revision, executor, budget_seconds, port)
    finally:
        if client is None:
            http.close()
    live: dict[str, dict[str, dict[str, float]]] = {}
    reference: dict[str, dict[str, float]] = {}
    feedback: dict[str, FeedbackStats] = {}
    problems: list[str] = []
    for ip in chosen:
        page = pages.get(ip)
        if page is None:
            continue
        if isinstance(page, str):
            problems.append(page)
            continue
        counts, shares, labelled = page
        live[ip] = counts
        feedback[ip] = labelled
        reference = reference or shares
    if not live:
        return ObservedDrift(revision=revision, error="; ".join(problems)[:_ERROR_CHARS])
    return ObservedDrift(revision=revision, live=live, reference=reference, feedback=feedback)


def parse_feedback(text: str, *, model: str, version: str) -> FeedbackStats:
    """One page's cumulative feedback counters (modelpilot.api.feedback)."""
    confusion: dict[tuple[str, str], float] = {}
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels: dict[str, Any] = sample.labels
            if (
                labels.get(metric_names.LABEL_MODEL) != model
                or labels.get(metric_names.LABEL_VERSION) != version
            ):
                continue
            if sample.name == metric_names.FEEDBACK_CONFUSION_TOTAL:
                key = (labels[metric_names.LABEL_LABEL], labels[metric_names.LABEL_PREDICTED])
                confusion[key] = sample.value
            elif sample.name == metric_names.FEEDBACK_SUM:
                sums[labels[metric_names.LABEL_STAT]] = sample.value
    return FeedbackStats(confusion=confusion, sums=sums)


# One pod's page: (live counts, reference shares, fed-back label counters), or the problem
# reading it in words.
Page = tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], FeedbackStats] | str


def _read_in_turn(
    http: Any,
    ips: list[str],
    model: str,
    revision: str,
    clock: Callable[[], float],
    budget_seconds: float,
    port: int,
) -> dict[str, Page]:
    pages: dict[str, Page] = {}
    start = clock()
    for ip in ips:
        left = budget_seconds - (clock() - start)
        if left <= 0:
            pages[ip] = f"the scrape's {budget_seconds:g}s budget ran out before {ip}"
            break
        deadline = min(SCRAPE_TIMEOUT_SECONDS, left)
        pages[ip] = read_page(http, ip, model, revision, deadline, clock, port)
    return pages


def _read_at_once(
    http: Any,
    ips: list[str],
    model: str,
    revision: str,
    executor: Executor,
    budget_seconds: float,
    port: int,
) -> dict[str, Page]:
    deadline = min(SCRAPE_TIMEOUT_SECONDS, budget_seconds)
    futures: dict[Future[Page], str] = {
        executor.submit(read_page, http, ip, model, revision, deadline, time.monotonic, port): ip
        for ip in ips
    }
    done, late = wait_for_futures(futures, timeout=budget_seconds)
    pages: dict[str, Page] = {}
    for future in done:
        pages[futures[future]] = future.result()  # read_page never raises
    for future in late:
        future.cancel()  # not started: the drift threads were busy; started: left to finish
        pages[futures[future]] = (
            f"{pod_url(futures[future], port)}: no answer within the scrape's "
            f"{budget_seconds:g}s budget"
        )
    return pages


def read_page(
    http: Any,
    ip: str,
    model: str,
    revision: str,
    deadline_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    port: int = names.SERVING_PORT,
) -> Page:
    """One pod's drift page, or what went wrong in words (never an exception)."""
    from modelpilot.operator.analysis import fetch
    from modelpilot.operator.analysis.errors import MetricsUnavailable

    url = pod_url(ip, port)
    try:
        code, body = fetch.get(
            http, url, deadline_seconds=deadline_seconds, max_bytes=MAX_PAGE_BYTES, clock=clock
        )
        if not 200 <= code <= 299:
            return f"{url}: HTTP {code}"
        text = body.decode(errors="replace")
        counts, shares = parse_drift(text, model=model, version=revision)
        return counts, shares, parse_feedback(text, model=model, version=revision)
    except MetricsUnavailable as error:
        return str(error)
    except (ValueError, KeyError, TypeError) as error:
        # The parser's message may quote the page: the page is not ours to show.
        return f"{url}: not a drift page ({type(error).__name__})"
    except Exception as error:  # a thread's exception would otherwise surface as the tick's
        return f"{url}: reading failed ({type(error).__name__})"


def parse_drift(
    text: str, *, model: str, version: str
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """(live counts, reference shares) by feature and bin from one /metrics page."""
    live: dict[str, dict[str, float]] = defaultdict(dict)
    reference: dict[str, dict[str, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in (FEATURE_BIN_TOTAL, FEATURE_REFERENCE_RATIO):
                continue
            labels: dict[str, Any] = sample.labels
            if (
                labels.get(metric_names.LABEL_MODEL) != model
                or labels.get(metric_names.LABEL_VERSION) != version
            ):
                continue
            feature, bin_label = labels.get(LABEL_FEATURE), labels.get(LABEL_BIN)
            if feature is None or bin_label is None:
                raise ValueError(f"{sample.name} without its {LABEL_FEATURE}/{LABEL_BIN} labels")
            into = live if sample.name == FEATURE_BIN_TOTAL else reference
            into[feature][bin_label] = sample.value
    return dict(live), dict(reference)
