"""In-memory custom objects for routers: a real implementation of the client Protocol.

They behave as the API server does where routers care — resourceVersion checks on replace,
NotFound for missing objects, deep copies in and out — so unit tests (and the state
machine's scenario walks) run the real routers against them without a cluster.
"""

from __future__ import annotations

import copy
from typing import Any

from modelpilot.operator.routers.clients import ObjectRef
from modelpilot.operator.routers.errors import RouteConflict, RouteNotFound


class MemoryObjects:
    """CustomObjects in a dict; `writes` counts successful replaces."""

    def __init__(self) -> None:
        self._objects: dict[ObjectRef, dict[str, Any]] = {}
        self.writes = 0

    def create(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(body)
        metadata = stored.setdefault("metadata", {})
        metadata.update(name=ref.name, namespace=ref.namespace, resourceVersion="1")
        self._objects[ref] = stored
        return copy.deepcopy(stored)

    def get(self, ref: ObjectRef) -> dict[str, Any]:
        try:
            return copy.deepcopy(self._objects[ref])
        except KeyError:
            raise RouteNotFound(f"{ref} not found") from None

    def replace(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        current = self.get(ref)
        sent = (body.get("metadata") or {}).get("resourceVersion")
        stored = current["metadata"]["resourceVersion"]
        if sent != stored:
            raise RouteConflict(
                f"{ref} was modified (resourceVersion {sent} is not the current {stored})"
            )
        updated = copy.deepcopy(body)
        updated["metadata"]["resourceVersion"] = str(int(stored) + 1)
        self._objects[ref] = updated
        self.writes += 1
        return copy.deepcopy(updated)
