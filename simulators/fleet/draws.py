"""Reproducible draws: each charger's own small random stream."""

from __future__ import annotations

import math
import uuid


class _Draws:
    """A tiny per-charger random stream (SplitMix64): the same seed gives the same schedule,
    whatever order the chargers run in, with one integer of state (a Mersenne Twister holds 5 KB).
    """

    __slots__ = ("state",)
    MASK = (1 << 64) - 1

    def __init__(self, seed: int) -> None:
        self.state = seed & self.MASK

    def random(self) -> float:
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return ((z ^ (z >> 31)) >> 11) / float(1 << 53)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def after(self, rate: float) -> float:
        """Seconds to the next event of a Poisson process of this rate (inf when 0)."""
        if rate <= 0:
            return math.inf
        return -math.log(1.0 - self.random()) / rate

    def uuid(self) -> str:
        bits = int(self.random() * (1 << 53)) << 75 | int(self.random() * (1 << 53)) << 22
        return str(uuid.UUID(int=bits, version=4))
