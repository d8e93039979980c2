"""The one Kubernetes operation routers need (custom objects), as a Protocol, and the
optimistic update loop.

Routers depend on this Protocol, not on a kubernetes client, so unit tests run them against
the in-memory implementation in `memory.py` (a real implementation, not a mock) and the
operator against the one on its own `Cluster` (modelpilot.operator.route_clients).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from modelpilot.operator.routers.errors import RouteConflict

# How often a read-modify-write is retried when another writer got in between.
UPDATE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRef:
    """One namespaced custom object (HTTPRoute, VirtualService)."""

    group: str
    version: str
    plural: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.plural}.{self.group} {self.namespace}/{self.name}"


class CustomObjects(Protocol):
    """Read and replace namespaced custom objects.

    `replace` must honour `metadata.resourceVersion` in the body as the API server does:
    a stale one raises RouteConflict. A missing object raises RouteNotFound.
    """

    def get(self, ref: ObjectRef) -> dict[str, Any]: ...

    def replace(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]: ...


def update_object(
    objects: CustomObjects,
    ref: ObjectRef,
    change: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    attempts: int = UPDATE_ATTEMPTS,
) -> dict[str, Any]:
    """Read, change, and write back with the read's resourceVersion; retry on conflict.

    `change` is pure (it receives a private copy and returns the desired object). When it
    changes nothing, nothing is written, so re-applying an action costs one GET.
    """
    for attempt in range(1, attempts + 1):
        current = objects.get(ref)
        desired = change(copy.deepcopy(current))
        if desired == current:
            return current
        try:
            return objects.replace(ref, desired)
        except RouteConflict:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
