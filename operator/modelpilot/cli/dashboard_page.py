"""The HTML of `modelpilot dashboard`: pure functions from ModelDeployment bodies to markup.

Kept apart from the server (dashboard.py) so every picture is testable without a cluster or a
socket. No script or style comes from elsewhere (the page must work with no internet): the
drift chart is inline SVG, the live update a few lines of fetch(). Every value that came from
the cluster is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from modelpilot.api.status import ModelDeploymentStatus, Phase, parse_status

REFRESH_MS = 1500  # how often the page asks for the live part again

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;font-size:18px}
header a{color:#fff;text-decoration:none}
main{padding:16px 20px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:12px 16px;margin:12px 0}
h2{font-size:15px;margin:0 0 8px 0;color:#49536a}
table{border-collapse:collapse;width:100%;font-size:13px}
td,th{border-bottom:1px solid #eceff3;padding:4px 8px;text-align:left}
.phase{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;color:#fff}
.Serving,.Promoted,.Passed{background:#2e9d5b}.Canary,.Deploying,.Training{background:#2f6fd6}
.Failed,.RolledBack,.Rejected{background:#c8423b}.Pending,.Inconclusive{background:#8a93a6}
.bar{display:flex;height:22px;border-radius:4px;overflow:hidden;font-size:12px;color:#fff}
.bar div{display:flex;align-items:center;justify-content:center;min-width:2px}
.stable{background:#2e9d5b}.canary{background:#e0912f}
ol.steps{list-style:none;padding:0;display:flex;gap:6px;flex-wrap:wrap}
ol.steps li{border:1px solid #c7cdd8;border-radius:4px;padding:4px 8px;font-size:13px}
ol.steps li.done{background:#e7f4ec;border-color:#2e9d5b}
ol.steps li.current{background:#fff3e1;border-color:#e0912f;font-weight:bold}
button{font-size:13px;padding:5px 14px;margin-right:6px;border-radius:4px;border:1px solid #888;
cursor:pointer}button.abort{background:#c8423b;color:#fff;border-color:#c8423b}
button:disabled{opacity:.4;cursor:default}
#message{margin-left:8px;font-size:13px}.error{color:#c8423b}
"""


def page(title: str, body: str, *, script: str = "") -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        "<header><a href='/'>modelpilot</a> &middot; "
        f"{escape(title)}</header><main>{body}</main>"
        f"{f'<script>{script}</script>' if script else ''}</body></html>"
    )


def phase_badge(phase: str) -> str:
    return f"<span class='phase {escape(phase)}'>{escape(phase)}</span>"


def age(created: str | None, now: datetime) -> str:
    """kubectl's way: 42s, 5m, 3h, 2d."""
    if not created:
        return ""
    seconds = int((now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def status_of(body: Mapping[str, Any]) -> ModelDeploymentStatus:
    return parse_status(body.get("status"))


def index(bodies: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """Every ModelDeployment, one row each, linking to its page."""
    rows = []
    for body in sorted(bodies, key=lambda b: (b["metadata"]["namespace"], b["metadata"]["name"])):
        meta, status = body["metadata"], status_of(body)
        canary = status.canary
        link = f"/models/{escape(meta['namespace'])}/{escape(meta['name'])}"
        rows.append(
            f"<tr><td>{escape(meta['namespace'])}</td>"
            f"<td><a href='{link}'>{escape(meta['name'])}</a></td>"
            f"<td>{phase_badge(status.phase.value)}</td>"
            f"<td>{escape(status.stable.revision if status.stable else '')}</td>"
            f"<td>{escape(canary.revision if canary else '')}</td>"
            f"<td>{f'{canary.weight}%' if canary else ''}</td>"
            f"<td>{age(meta.get('creationTimestamp'), now)}</td></tr>"
        )
    table = (
        "<table id=models><tr><th>namespace</th><th>name</th><th>phase</th><th>stable</th>"
        "<th>canary</th><th>weight</th><th>age</th></tr>"
        + ("".join(rows) or "<tr><td colspan=7>no ModelDeployments</td></tr>")
        + "</table>"
    )
    return page(
        "ModelDeployments",
        f"<section><h2>ModelDeployments</h2>{table}</section>",
        script=poll("/", "main"),
    )


def poll(url: str, element: str) -> str:
    """Replace `element`'s content with the same element of `url`, every REFRESH_MS, when it
    changed (an unchanged page keeps its nodes: no flicker, no lost text selection)."""
    return (
        f"setInterval(async()=>{{try{{const r=await fetch({url!r});if(!r.ok)return;"
        "const d=new DOMParser().parseFromString(await r.text(),'text/html');"
        f"const here=document.querySelector({element!r}),"
        f"there=d.querySelector({element!r}).innerHTML;"
        "if(here.innerHTML!==there)here.innerHTML=there;"
        f"}}catch(e){{}}}},{REFRESH_MS});"
    )


def step_words(step: Mapping[str, Any]) -> str:
    """A rollout step as `modelpilot status` says it: setWeight 20, pause 30s, pause."""
    if "setWeight" in step:
        return f"setWeight {step['setWeight']}"
    if "pause" in step:
        duration = (step["pause"] or {}).get("duration")
        return f"pause {duration}" if duration else "pause (until promoted)"
    return ", ".join(f"{k} {v}" for k, v in step.items())


def steps(body: Mapping[str, Any], status: ModelDeploymentStatus) -> str:
    """The canary's steps (as they were when it started), done ones ticked, the current lit."""
    canary = status.canary
    frozen = (canary.rollout or {}) if canary is not None else {}
    listed = frozen.get("steps") or ((body.get("spec") or {}).get("rollout") or {}).get("steps")
    if not listed:
        return "<p>no steps (spec.rollout.steps): a passing candidate is promoted at once</p>"
    items = []
    # After a rollback or promotion status keeps the canary's last step; nothing is current.
    running = canary is not None and status.phase in (Phase.CANARY, Phase.DEPLOYING)
    for i, step in enumerate(listed):
        state = ""
        if running and canary is not None:
            state = "done" if i < canary.step_index else "current" if i == canary.step_index else ""
        mark = "&#10003; " if state == "done" else ""
        items.append(f"<li class='{state}' data-step={i}>{mark}{escape(step_words(step))}</li>")
    return f"<ol class=steps id=steps>{''.join(items)}</ol>"


def traffic(status: ModelDeploymentStatus) -> str:
    canary = status.canary
    stable = status.stable.revision if status.stable else "none"
    weight = (
        0
        if canary is None
        else (canary.actual_weight if canary.actual_weight is not None else canary.weight)
    )
    if canary is None or weight == 0:
        return (
            f"<div class=bar id=traffic data-canary-weight=0><div class=stable "
            f"style='width:100%'>stable {escape(stable)} 100%</div></div>"
            + (f"<p id=canary-message>{escape(canary.message or '')}</p>" if canary else "")
        )
    return (
        f"<div class=bar id=traffic data-canary-weight={canary.weight}>"
        f"<div class=stable style='width:{100 - weight}%'>stable {escape(stable)} "
        f"{100 - weight}%</div><div class=canary style='width:{weight}%'>"
        f"canary {escape(canary.revision)} {weight}%</div></div>"
        f"<p id=canary-message>{escape(canary.message or '')}</p>"
    )


def _number(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def windows(status: ModelDeploymentStatus) -> str:
    canary = status.canary
    if canary is None or not canary.analysis.windows:
        return "<p>no analysis windows yet</p>"
    rows = [
        f"<tr><td>{w.started_at:%H:%M:%S}</td><td>{phase_badge(w.verdict)}</td>"
        f"<td>{_number(w.canary_requests, 'd')}</td><td>{_number(w.stable_requests, 'd')}</td>"
        f"<td>{_number(w.canary_error_rate, '.2%')}</td>"
        f"<td>{_number(w.canary_latency_p99_ms, '.0f')}</td>"
        f"<td>{escape(w.message or '')}</td></tr>"
        for w in canary.analysis.windows
    ]
    return (
        "<table id=windows><tr><th>started</th><th>verdict</th><th>canary req</th>"
        "<th>stable req</th><th>canary errors</th><th>canary p99 ms</th><th>why</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def revisions(status: ModelDeploymentStatus) -> str:
    rows = []
    if status.stable is not None:
        rows.append(
            f"<tr><td>{escape(status.stable.revision)}</td><td>stable</td><td></td><td></td></tr>"
        )
    candidate = status.candidate
    concluded = {entry.revision for entry in status.history}
    if candidate is not None and candidate.revision not in concluded:  # else its history says
        rows.append(
            f"<tr><td>{escape(candidate.revision)}</td><td>{phase_badge(candidate.state.value)}"
            f"</td><td>{_number(candidate.candidate_score, '.4f')}</td>"
            f"<td>{escape(candidate.message or '')}</td></tr>"
        )
    for entry in status.history:
        rows.append(
            f"<tr><td>{escape(entry.revision)}</td><td>{phase_badge(entry.outcome.value)}</td>"
            f"<td>{_number(entry.score, '.4f')}</td><td>{escape(entry.message or '')}</td></tr>"
        )
    return (
        "<table id=revisions><tr><th>revision</th><th>state</th><th>gate score</th>"
        "<th>message</th></tr>" + "".join(rows) + "</table>"
    )


def drift_chart(features: Iterable[tuple[str, float]], threshold: float | None) -> str:
    """PSI per feature as horizontal bars, with the threshold as a dashed line (inline SVG)."""
    bars = list(features)
    if not bars:
        return "<p id=drift>no drift window yet (spec.monitoring)</p>"
    label_w, bar_w, row_h = 160, 360, 22
    top = max([psi for _, psi in bars] + [threshold or 0.0]) * 1.1 or 1.0
    height = row_h * len(bars) + 24
    parts = [
        f"<svg id=drift xmlns='http://www.w3.org/2000/svg' width={label_w + bar_w + 60} "
        f"height={height} role=img aria-label='PSI per feature'>"
    ]
    for i, (feature, psi) in enumerate(bars):
        y = i * row_h + 4
        width = bar_w * psi / top
        over = threshold is not None and psi > threshold
        parts.append(
            f"<text x=0 y={y + 14} font-size=12>{escape(feature)}</text>"
            f"<rect class=psi data-feature='{escape(feature)}' x={label_w} y={y} "
            f"width={width:.1f} height={row_h - 6} fill='{'#c8423b' if over else '#2f6fd6'}'/>"
            f"<text x={label_w + width + 4:.1f} y={y + 13} font-size=11>{psi:.3f}</text>"
        )
    if threshold is not None:
        x = label_w + bar_w * threshold / top
        parts.append(
            f"<line x1={x:.1f} x2={x:.1f} y1=0 y2={height - 18} stroke='#1d2330' "
            f"stroke-dasharray='4 3'/><text x={x + 3:.1f} y={height - 4} font-size=11>"
            f"threshold {threshold:g}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def drift(body: Mapping[str, Any], status: ModelDeploymentStatus) -> str:
    monitoring = (body.get("spec") or {}).get("monitoring") or {}
    threshold = monitoring.get("maxFeaturePsi", 0.25 if monitoring else None)
    worst = status.monitoring.worst if status.monitoring is not None else []
    chart = drift_chart(((f.feature, f.psi) for f in worst), threshold)
    said = status.monitoring.message if status.monitoring is not None else None
    return chart + (f"<p>{escape(said)}</p>" if said else "")


def live(body: Mapping[str, Any]) -> str:
    """The part of a model's page that the page fetches again and again."""
    status = status_of(body)
    in_canary = status.phase is Phase.CANARY
    disabled = "" if in_canary else " disabled"
    return (
        f"<div id=live data-phase={escape(status.phase.value)}>"
        f"<section><h2>Phase</h2>{phase_badge(status.phase.value)} "
        f"<button id=promote onclick=\"act('promote')\"{disabled}>Promote</button>"
        f"<button id=promote-full onclick=\"act('promote-full')\"{disabled}>Promote full"
        f"</button><button id=abort class=abort onclick=\"act('abort')\"{disabled}>Abort</button>"
        f"<p id=status-message>{escape(status.message or '')}</p></section>"
        f"<section><h2>Traffic</h2>{traffic(status)}</section>"
        f"<section><h2>Canary steps</h2>{steps(body, status)}</section>"
        f"<section><h2>Analysis windows</h2>{windows(status)}</section>"
        f"<section><h2>Revisions</h2>{revisions(status)}</section>"
        f"<section><h2>Drift (PSI per feature)</h2>{drift(body, status)}</section></div>"
    )


def model(body: Mapping[str, Any], *, token: str) -> str:
    """One model's page: live part plus the buttons' script (acting needs the page's token)."""
    meta = body["metadata"]
    here = f"/models/{meta['namespace']}/{meta['name']}"
    act = (
        f"async function act(what){{const m=document.getElementById('message');"
        f"m.className='';m.textContent=what+'...';"
        f"const r=await fetch({here!r}+'/'+what,{{method:'POST',"
        f"headers:{{'X-Modelpilot-Token':{token!r}}}}});"
        "const t=await r.text();m.textContent=t;if(!r.ok)m.className='error';}"
    )
    title = f"{meta['namespace']}/{meta['name']}"
    body_html = f"<span id=message></span><div id=holder>{live(body)}</div>"
    return page(title, body_html, script=act + poll(here, "#holder"))


def problem(said: str) -> str:
    return page("error", f"<section><p class=error id=problem>{escape(said)}</p></section>")


def not_found(what: str) -> str:
    return page("not found", f"<section><p>{escape(what)} not found</p></section>")


def now_utc() -> datetime:
    return datetime.now(UTC)
