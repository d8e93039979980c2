"""Where live metrics come from: one Protocol, a pods scraper and a Prometheus client.

A source answers for one model version at a time; the analysis step queries it for the
canary and for stable and hands both windows to `evaluate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from modelpilot.operator.analysis.counts import Counts, Snapshot


@dataclass(frozen=True, slots=True)
class Sample:
    """One query's answer."""

    # What happened in the window; None when this query only took the baseline (the pods
    # source's first scrape of a version: there is nothing to subtract from yet).
    window: Counts | None
    # Cumulative state to keep in status and pass back as `previous` next time; None for
    # sources that keep their own history (Prometheus).
    snapshot: Snapshot | None = None
    # Pods that did not answer; their previous counters are carried in `snapshot`.
    unreachable: tuple[str, ...] = ()


@runtime_checkable
class MetricsSource(Protocol):
    def query(
        self,
        *,
        namespace: str,
        model: str,
        version: str,
        pod_ips: Sequence[str],
        window_seconds: float,
        previous: Snapshot | None,
    ) -> Sample:
        """Counters of `version` over the last window.

        The pods source uses `pod_ips` and `previous` (its window is the time since the
        previous scrape); Prometheus uses `window_seconds` and ignores the other two.
        """
        ...
