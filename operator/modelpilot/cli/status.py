"""`modelpilot status NAME`: phase, versions, scores, conditions and recent Events at a glance."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelpilot.api import names
from modelpilot.api.status import ModelDeploymentStatus, parse_status
from modelpilot.cli.kube import add_target_arguments, connect

EVENTS_SHOWN = 8


def _age(when: datetime | str | None, now: datetime) -> str:
    if when is None:
        return "-"
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _score(metric: str | None, score: float | None) -> str:
    return "" if score is None else f"{metric} {score:.4f}"


def render(body: dict[str, Any], events: list[dict[str, Any]], now: datetime) -> str:  # noqa: C901 (a printer: one optional section per status part)
    """The whole report as text (pure, so it is tested without a cluster)."""
    meta = body["metadata"]
    status: ModelDeploymentStatus = parse_status(body.get("status"))
    spec = body.get("spec", {})
    lines = [
        f"{meta['namespace']}/{meta['name']}  phase {status.phase}  "
        f"(generation {meta.get('generation')}, observed {status.observed_generation})",
    ]
    if status.message:
        lines.append(f"  {status.message}")
    gate = spec.get("evaluation", {})
    threshold = gate.get("threshold")
    lines.append(
        f"  gate: {gate.get('metric')}"
        + (f" >= {threshold}" if threshold is not None else "")
        + (", must beat stable" if gate.get("mustBeatStable", True) else "")
    )
    pin = (spec.get("serving") or {}).get("pinRevision")
    if pin:
        lines.append(
            f"  pinned: {pin} (spec.serving.pinRevision); nothing trains until "
            f"`modelpilot rollback {meta['name']} --clear`"
        )
    lines.append("")
    s = status.stable
    if s is not None:
        lines.append(
            f"Stable     {s.revision}  {_score(s.metric, s.score)}  deployment {s.deployment}  "
            f"sha256 {s.model_sha256[:12]}  promoted {_age(s.promoted_at, now)} ago"
        )
    else:
        lines.append("Stable     - (nothing serves)")
    c = status.candidate
    if c is not None:
        scores = _score(c.metric, c.candidate_score)
        if c.stable_score is not None:
            scores += f" vs stable {c.stable_score:.4f}"
        lines.append(f"Candidate  {c.revision}  {c.state}  ({c.trigger})  {scores}  job {c.job}")
        if c.message:
            lines.append(f"           {c.message}")
    else:
        lines.append("Candidate  -")
    if status.canary is not None:
        lines += _canary_lines(status, now)
    if status.data_watch is not None:
        d = status.data_watch
        short = {
            k: (v[:12] if v else "-")
            for k, v in (("observed", d.observed_sha256), ("trained", d.trained_sha256))
        }
        lines.append(
            f"Data       fingerprint {short['observed']} now, {short['trained']} trained on; "
            f"last probe {_age(d.last_probe_at, now)} ago"
        )
        if d.message:
            lines.append(f"           {d.message}")
    elif s is not None and s.training_data_sha256:
        lines.append(f"Data       trained on fingerprint {s.training_data_sha256[:12]}")
    if status.monitoring is not None:
        lines += _drift_lines(status, spec, now)
    lines += ["", "Conditions"]
    for cond in status.conditions:
        lines.append(f"  {cond.type:<12} {cond.status:<7} {cond.reason:<20} {cond.message}")
    if status.history:
        lines += ["", "History (newest first)"]
        for h in status.history:
            lines.append(
                f"  {h.revision:<5} {h.outcome:<11} {h.trigger or ''!s:<17} "
                f"{_score(h.metric, h.score):<16} {_age(h.finished_at, now):>4} ago  "
                f"{h.message or ''}"
            )
    if events:
        lines += ["", "Recent events"]
        ordered = sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        for e in ordered[-EVENTS_SHOWN:]:
            when = e.get("lastTimestamp") or e.get("eventTime")
            lines.append(
                f"  {_age(when, now):>4}  {e.get('type', ''):<8} {e.get('reason', ''):<16} "
                f"{e.get('message', '')}"
            )
    return "\n".join(lines)


BAR_WIDTH = 30  # characters of the longest drift bar


def _drift_lines(status: ModelDeploymentStatus, spec: dict[str, Any], now: datetime) -> list[str]:
    """The last monitoring window: verdict, rows, and a PSI bar per worst feature.

    Bars are scaled to the larger of the highest PSI and the threshold, and the threshold's
    position is marked with '|', so a bar that crosses the mark is a drifted feature.
    """
    m = status.monitoring
    assert m is not None
    limit = float((spec.get("monitoring") or {}).get("maxFeaturePsi", 0.25))
    verdict = {True: "DRIFTED", False: "no drift", None: "not judged"}[m.drifted]
    rows = "-" if m.requests is None else str(m.requests)
    lines = [
        "",
        f"Drift      {verdict}  ({m.revision or '-'}; {rows} input rows in the window ending "
        f"{_age(m.last_window_at, now)} ago; maxFeaturePsi {limit})",
    ]
    if m.message and m.drifted is None:
        lines.append(f"           {m.message}")
    scale = max([limit, *(w.psi for w in m.worst)])
    mark = round(limit / scale * BAR_WIDTH)
    width = max((len(w.feature) for w in m.worst), default=0)
    for w in m.worst:
        filled = round(min(w.psi, scale) / scale * BAR_WIDTH)
        bar = ["#" if i < filled else " " for i in range(BAR_WIDTH + 1)]
        if mark <= BAR_WIDTH and bar[mark] == " ":
            bar[mark] = "|"
        flag = "  drifted" if w.psi > limit else ""
        lines.append(f"  {w.feature:<{width}}  {''.join(bar)} {w.psi:.3f}{flag}")
    p = m.performance
    if p is not None:
        verdict = {True: "DEGRADED", False: "ok", None: "not judged"}[p.degraded]
        value = "-" if p.value is None else f"{p.value:.4f}"
        lines.append(
            f"Live       {verdict}  ({p.revision or '-'}; {p.metric} {value} over "
            f"{p.count or 0} labelled rows; threshold {p.threshold})"
        )
    return lines


def _canary_lines(status: ModelDeploymentStatus, now: datetime) -> list[str]:
    k = status.canary
    assert k is not None
    stable = 100 - (k.actual_weight if k.actual_weight is not None else k.weight)
    actual = "" if k.actual_weight is None else f"  actual {stable}/{k.actual_weight}"
    pods = ""
    if k.stable_replicas is not None and k.canary_replicas is not None:
        pods = f" ({k.stable_replicas}+{k.canary_replicas} Ready pods)"
    lines = [
        f"Canary     {k.revision}  step {k.step or k.step_index}"
        f"{'  paused' if k.paused else ''}  (started {_age(k.step_started_at, now)} ago)",
        f"           weight stable/canary {100 - k.weight}/{k.weight}{actual}{pods}",
    ]
    if k.message:
        lines.append(f"           {k.message}")
    if k.gate is not None and k.gate.state == "Passed":
        lines.append(f"           {k.gate.message}")
    for route in k.header_routes:
        match = ", ".join(
            f"{m.get('header')} {m.get('kind')} {m.get('value')!r}" for m in route.get("match", [])
        )
        lines.append(f"           header route {route.get('name')}: {match} -> {k.revision}")
    a = k.analysis
    lines.append(
        f"Analysis   {a.failures} failed, {a.inconclusive} inconclusive windows; "
        f"last {_age(a.last_window_at, now)} ago"
    )
    for w in a.windows:
        numbers = [
            f"canary {w.canary_requests if w.canary_requests is not None else '-'} req",
            f"stable {w.stable_requests if w.stable_requests is not None else '-'} req",
        ]
        if w.canary_error_rate is not None:
            numbers.append(f"5xx {w.canary_error_rate:.2%}")
        if w.canary_client_error_rate is not None:
            numbers.append(f"4xx {w.canary_client_error_rate:.2%}")
        if w.canary_latency_p99_ms is not None:
            p99 = f"p99 {w.canary_latency_p99_ms:.1f} ms"
            if w.stable_latency_p99_ms is not None:
                p99 += f" (stable {w.stable_latency_p99_ms:.1f})"
            numbers.append(p99)
        if w.prediction_psi is not None:
            numbers.append(f"PSI {w.prediction_psi:.3f}")
        numbers += [f"{name} {value:g}" for name, value in (w.metrics or {}).items()]
        when = _age(w.ended_at or w.started_at, now)
        lines.append(f"  {when:>4} ago  {w.verdict:<12} {', '.join(numbers)}")
        if w.verdict != "Passed" and w.message:
            lines.append(f"                    {w.message}")
    return lines


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="modelpilot status", description=__doc__.splitlines()[0])
    add_target_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "json", "yaml"),
        default="table",
        help="table (default); json or yaml: the ModelDeployment and its recent Events",
    )
    args = parser.parse_args(list(argv))
    cluster, namespace = connect(args)
    body = cluster.get(names.KIND, namespace, args.name)
    if body is None:
        print(f"modeldeployment {namespace}/{args.name} not found", file=sys.stderr)
        return 1
    selector = (
        f"involvedObject.kind={names.KIND},involvedObject.name={args.name},"
        f"involvedObject.uid={body['metadata']['uid']}"
    )
    events = cluster.request(
        "GET", f"/api/v1/namespaces/{namespace}/events", query={"fieldSelector": selector}
    ).get("items", [])
    if args.output != "table":
        from modelpilot.cli.reads import dumped

        print(dumped({"modelDeployment": body, "events": events}, args.output))
        return 0
    print(render(body, events, datetime.now(UTC)))
    return 0
