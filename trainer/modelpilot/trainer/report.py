"""Telling people and the operator how training went.

People read stdout (`kubectl logs`): rows, features, fit time, every metric, the verdict.
The operator reads the termination message: `modelpilot.api.summary.encode`, always under
4096 bytes. Failures get one clear line on stderr and a summary with ok=false, so
`kubectl get mdep` can show the reason without anyone digging through logs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from modelpilot.api.summary import TrainingSummary, encode
from modelpilot.trainer.run import Outcome
from modelpilot.trainer.settings import DEFAULT_TERMINATION_LOG


def render(outcome: Outcome) -> str:
    s = outcome.summary
    lines = [f"modelpilot train: revision {s.revision} -> {outcome.output}"]
    if outcome.discarded:
        lines.append(
            f"  removed unread what lay in the output before this run "
            f"({', '.join(outcome.discarded)}): a bundle found there is never adopted"
        )
    if outcome.pretrained is not None:
        lines.append(f"  pretrained {outcome.pretrained}")
    if outcome.source is not None:
        split = (
            f"{outcome.training_rows} training rows"
            if outcome.pretrained is None
            else f"{outcome.training_rows} rows for the drift reference (not fitted on)"
        )
        lines.append(
            f"  data      {outcome.source}: {split}, {s.holdout_rows} holdout rows, "
            f"{len(outcome.features)} features"
        )
    if s.fit_seconds is not None:
        lines.append(f"  fit       {s.fit_seconds:.3f}s ({s.task})")
    stable = outcome.stable_metrics or {}
    header = "  metrics   " + ("candidate   stable" if outcome.stable_metrics else "candidate")
    lines.append(header)
    for name, value in (s.metrics or {}).items():
        mark = " *" if name == s.metric else ""
        other = f"  {stable[name]:.4f}" if name in stable else ""
        lines.append(f"    {name:<18} {value:.4f}{other}{mark}")
    if outcome.stable_revision:
        lines.append(f"  stable    {outcome.stable_revision}, scored on the same holdout")
    lines.append(f"  verdict   {s.verdict}: {s.message}")
    lines.append(f"  model     sha256 {s.model_sha256}")
    lines.extend(f"  note      {note}" for note in outcome.notes)
    return "\n".join(lines)


def write_termination_log(
    summary: TrainingSummary, path: Path | None, *, stderr: TextIO = sys.stderr
) -> None:
    """Write the encoded summary; a missing default path (not in a pod) is silently skipped."""
    target = path
    if target is None:
        default = Path(DEFAULT_TERMINATION_LOG)
        if not (default.exists() and os.access(default, os.W_OK)):
            return
        target = default
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(encode(summary))
    except OSError as exc:
        print(
            f"modelpilot train: warning: cannot write the summary to {target}: {exc}", file=stderr
        )
