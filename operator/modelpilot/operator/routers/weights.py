"""The traffic split between stable and canary, as one validated value.

Every router speaks percentages: `Weights(stable=90, canary=10)`. Keeping the split in one
frozen value that always sums to 100 means no router, action or status field can hold a
half-updated pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Weights:
    """Percent of requests to the stable and to the canary version; sums to 100."""

    stable: int
    canary: int

    def __post_init__(self) -> None:
        for name in ("stable", "canary"):
            value = getattr(self, name)
            # bool is an int subclass; True is not a weight.
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} weight must be an int, got {value!r}")
            if not 0 <= value <= 100:
                raise ValueError(f"{name} weight {value} is outside [0, 100]")
        if self.stable + self.canary != 100:
            raise ValueError(
                f"weights must sum to 100, got stable {self.stable} + canary {self.canary}"
            )

    @classmethod
    def canary_at(cls, canary: int) -> Weights:
        """The split that sends `canary` percent to the canary and the rest to stable."""
        return cls(stable=100 - canary, canary=canary)

    @classmethod
    def from_shares(cls, *, stable: float, canary: float) -> Weights:
        """Percentages from relative shares (replica counts, HTTPRoute weights).

        Rounds to the nearest percent, but never rounds a side that receives traffic down to
        0 or a side that receives none up from 0: "1 %" is honest about 1 pod in 200, "0 %"
        would not be. No traffic at all (both 0) reads as all-stable, the safe reading.
        """
        if stable < 0 or canary < 0:
            raise ValueError(f"shares must not be negative, got {stable}, {canary}")
        total = stable + canary
        if total == 0:
            return cls(stable=100, canary=0)
        percent = round(100 * canary / total)
        if canary > 0:
            percent = max(percent, 1)
        if stable > 0:
            percent = min(percent, 99)
        return cls.canary_at(percent)

    STABLE_ONLY: ClassVar[Weights]  # all traffic to stable (abort, or no canary yet)
    CANARY_ONLY: ClassVar[Weights]  # all traffic to the canary (promotion)


Weights.STABLE_ONLY = Weights(stable=100, canary=0)
Weights.CANARY_ONLY = Weights(stable=0, canary=100)
