"""Header routes (a canary step `setHeaderRoute`): requests carrying a header reach the canary
whatever the weights say, as in Argo Rollouts. Pure: route objects in, route objects out.

The rules this module adds are recorded on the route object itself, in the annotation
`modelpilot.dev/header-routes` (their names and the exact rules written), so they are found
again, replaced and removed without touching a rule anyone else wrote — and without the
Gateway API's rule names, which only its experimental channel has.

- Gateway API: one HTTPRoute rule per header route, whose matches are each weighted rule's
  matches (path, method ...) with the headers added, sending to the canary's Service on the
  stable backend's port. Gateway API ranks a match with more headers first, so order does not
  matter; a prefix becomes a RegularExpression.
- Istio: one http route per header route, put before the weighted route (Istio takes the
  first route that matches), its match entries the weighted route's with the headers added,
  sending to the canary's host (qualified as stable's is) on stable's port.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

ANNOTATION = "modelpilot.dev/header-routes"
Kind = Literal["exact", "prefix", "regex"]


@dataclass(frozen=True)
class HeaderMatch:
    header: str
    kind: Kind
    value: str


@dataclass(frozen=True)
class HeaderRoute:
    """Requests whose headers all match go to the canary (the step's `name` and `match`)."""

    name: str
    match: tuple[HeaderMatch, ...]


def managed(route: dict[str, Any]) -> list[dict[str, Any]]:
    """The header routes this module wrote into `route`: [{"name", "rule"}], oldest first."""
    text = ((route.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    if not text:
        return []
    try:
        found = json.loads(text)
    except ValueError:
        return []
    return [e for e in found if isinstance(e, dict) and "name" in e and "rule" in e]


def signature(header_route: HeaderRoute) -> str:
    """A header route in one string (name and match): what the rollout compares with the
    route it reads back to know whether to write."""
    match = ",".join(f"{m.header}:{m.kind}={m.value}" for m in header_route.match)
    return f"{header_route.name}[{match}]"


def signatures_of(route: dict[str, Any]) -> tuple[str, ...]:
    """The signatures of the header routes this module wrote into `route`, in order."""
    return tuple(e.get("signature", e["name"]) for e in managed(route))


def _record(route: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    annotations = route.setdefault("metadata", {}).setdefault("annotations", {})
    if entries:
        annotations[ANNOTATION] = json.dumps(entries, sort_keys=True)
    else:
        annotations.pop(ANNOTATION, None)
        if not annotations:
            route["metadata"].pop("annotations")


def _without_managed(rules: list[dict[str, Any]], route: dict[str, Any]) -> list[dict[str, Any]]:
    ours = [e["rule"] for e in managed(route)]
    return [r for r in rules if r not in ours]


# --- Gateway API -------------------------------------------------------------------------


def _gateway_header(match: HeaderMatch) -> dict[str, str]:
    if match.kind == "exact":
        return {"type": "Exact", "name": match.header, "value": match.value}
    value = match.value if match.kind == "regex" else "^" + re.escape(match.value) + ".*"
    return {"type": "RegularExpression", "name": match.header, "value": value}


def gateway_rule(
    header_route: HeaderRoute,
    weighted: Sequence[dict[str, Any]],
    *,
    canary_service: str,
    stable_ref: dict[str, Any],
) -> dict[str, Any]:
    """The HTTPRoute rule sending `header_route`'s requests to the canary's Service."""
    headers = [_gateway_header(m) for m in header_route.match]
    matches = []
    for rule in weighted:
        for match in rule.get("matches") or [{}]:
            combined = copy.deepcopy(match)
            combined["headers"] = [*(combined.get("headers") or []), *headers]
            if combined not in matches:
                matches.append(combined)
    ref: dict[str, Any] = {"name": canary_service, "weight": 100}
    if "port" in stable_ref:
        ref["port"] = stable_ref["port"]
    return {"matches": matches, "backendRefs": [ref]}


def set_gateway_header_routes(
    route: dict[str, Any],
    header_routes: Sequence[HeaderRoute],
    *,
    weighted: Sequence[dict[str, Any]],
    canary_service: str,
    stable_ref: dict[str, Any],
) -> dict[str, Any]:
    """`route` with exactly `header_routes` as its managed rules (none: all removed)."""
    spec = route.setdefault("spec", {})
    rules = _without_managed(spec.get("rules") or [], route)
    entries = []
    for header_route in header_routes:
        rule = gateway_rule(
            header_route, weighted, canary_service=canary_service, stable_ref=stable_ref
        )
        rules.append(rule)
        entries.append(
            {"name": header_route.name, "signature": signature(header_route), "rule": rule}
        )
    spec["rules"] = rules
    _record(route, entries)
    return route


# --- Istio -------------------------------------------------------------------------------


def istio_route(
    header_route: HeaderRoute, weighted: dict[str, Any], *, canary_destination: dict[str, Any]
) -> dict[str, Any]:
    """The VirtualService http route sending `header_route`'s requests to the canary."""
    headers = {m.header: {m.kind: m.value} for m in header_route.match}
    matches = []
    for match in weighted.get("match") or [{}]:
        combined = copy.deepcopy(match)
        combined["headers"] = {**(combined.get("headers") or {}), **headers}
        matches.append(combined)
    return {
        "name": header_route.name,
        "match": matches,
        "route": [{"destination": canary_destination, "weight": 100}],
    }


def set_istio_header_routes(
    service: dict[str, Any],
    header_routes: Sequence[HeaderRoute],
    *,
    weighted: dict[str, Any],
    canary_destination: dict[str, Any],
) -> dict[str, Any]:
    """`service` with exactly `header_routes` as its managed http routes, before the rest."""
    spec = service.setdefault("spec", {})
    rest = _without_managed(spec.get("http") or [], service)
    ours = [istio_route(h, weighted, canary_destination=canary_destination) for h in header_routes]
    spec["http"] = [*ours, *rest]
    _record(
        service, [{"name": h.name, "rule": r} for h, r in zip(header_routes, ours, strict=True)]
    )
    return service
