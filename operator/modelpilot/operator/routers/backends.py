"""Reweighting a list of backends (HTTPRoute backendRefs, VirtualService destinations).

Both mesh routers hold a list whose entries point at Services and carry a weight. The list
may hold entries we do not own (other Services, filters, headers); only the stable's and the
canary's entries change, everything else is kept as it was, in its place.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from modelpilot.operator.routers.weights import Weights

if TYPE_CHECKING:
    from modelpilot.operator.routers.router import RouteTarget

Entry = dict[str, Any]


def reweight(
    entries: list[Entry],
    *,
    service_of: Callable[[Entry], str | None],
    renamed: Callable[[Entry, str], Entry],
    weights: Mapping[str, int],
    remove: tuple[str, ...] = (),
    add_only: bool = False,
) -> list[Entry]:
    """Return `entries` with the Services in `weights` weighted, those in `remove` dropped.

    A Service in `weights` without an entry gets one copied from an existing stable/canary
    entry (same port, filters, headers) and appended. `add_only` adds missing entries but
    leaves existing weights alone (so ensuring the route never resets a weight in effect).
    `service_of` says which Service an entry sends to, None for entries not ours to touch.
    """
    template = next((e for e in entries if service_of(e) is not None), None)
    if template is None:
        raise ValueError("no entry sends to the stable or the canary Service")
    kept = [copy.deepcopy(e) for e in entries if service_of(e) not in remove]
    for service, weight in weights.items():
        existing = [e for e in kept if service_of(e) == service]
        if not existing:
            added = renamed(copy.deepcopy(template), service)
            added["weight"] = weight
            kept.append(added)
        elif not add_only:
            for entry in existing:
                entry["weight"] = weight
    return kept


def relative_weight(
    entries: list[Entry], service: str, service_of: Callable[[Entry], str | None]
) -> int:
    """The summed weight of a Service's entries; an entry without a weight counts 1, as in
    Gateway API (Istio's single destination without a weight carries everything, too)."""
    return sum(int(e.get("weight", 1)) for e in entries if service_of(e) == service)


def split_of(
    entries: list[Entry], target: RouteTarget, service_of: Callable[[Entry], str | None]
) -> Weights:
    """The stable/canary split that a list of backends gives, as the router reads it back."""
    return Weights.from_shares(
        stable=relative_weight(entries, target.stable_service, service_of),
        canary=relative_weight(entries, target.canary_service, service_of),
    )
