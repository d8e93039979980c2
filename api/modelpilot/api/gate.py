"""The evaluation gate: does a candidate model deserve to serve?

One pure function used by the trainer (to report a verdict) and the operator (to decide), so
the two can never disagree about what passing means.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from modelpilot.api.metrics import metric_info


class GateVerdict(StrEnum):
    PASSED = "Passed"
    BELOW_THRESHOLD = "BelowThreshold"  # the candidate misses spec.evaluation.threshold
    WORSE_THAN_STABLE = "WorseThanStable"  # mustBeatStable and the candidate lost


@dataclass(frozen=True, slots=True)
class GateResult:
    verdict: GateVerdict
    metric: str
    candidate_score: float
    stable_score: float | None
    # candidate - stable, signed so that positive always means "candidate is better".
    delta: float | None
    message: str

    @property
    def passed(self) -> bool:
        return self.verdict is GateVerdict.PASSED


def judge(
    *,
    metric: str,
    candidate_score: float,
    stable_score: float | None,
    threshold: float | None,
    must_beat_stable: bool,
    tolerance: float = 0.0,
) -> GateResult:
    """Judge a candidate against the threshold and, optionally, the stable model.

    `tolerance` lets a candidate be up to that much worse than stable and still pass
    (useful when retraining on fresh data should win ties). Scores compare in the metric's
    own direction: for rmse lower is better.
    """
    info = metric_info(metric)
    sign = 1.0 if info.greater_is_better else -1.0
    delta = None if stable_score is None else sign * (candidate_score - stable_score)
    better = "higher" if info.greater_is_better else "lower"

    if threshold is not None and sign * (candidate_score - threshold) < 0:
        return GateResult(
            GateVerdict.BELOW_THRESHOLD,
            metric,
            candidate_score,
            stable_score,
            delta,
            f"{metric} {candidate_score:.4f} misses the threshold {threshold:.4f} "
            f"({better} is better)",
        )
    if must_beat_stable and delta is not None and delta < -tolerance:
        return GateResult(
            GateVerdict.WORSE_THAN_STABLE,
            metric,
            candidate_score,
            stable_score,
            delta,
            f"{metric} {candidate_score:.4f} is worse than stable's {stable_score:.4f} "
            f"on the same holdout (delta {delta:+.4f}, tolerance {tolerance:.4f})",
        )
    against = "" if stable_score is None else f", stable {stable_score:.4f}"
    return GateResult(
        GateVerdict.PASSED,
        metric,
        candidate_score,
        stable_score,
        delta,
        f"{metric} {candidate_score:.4f}{against}: passed",
    )
