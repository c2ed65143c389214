"""Reconnect delays: exponential backoff with full jitter, as a pure value.

The policy (when to give up, what to tell the user) belongs to the engine; this only answers
"how long before attempt n". Randomness is injected, so tests are exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``attempt`` (0-based): uniform in [floor, min(cap, base * 2**n)].

    "Full jitter" spreads many clients reconnecting after one outage; ``floor_s`` keeps a
    retry from hammering a server that refuses instantly.
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    floor_s: float = 0.1
    max_attempts: int = 8
    uniform: Callable[[float, float], float] = field(default=random.uniform, repr=False,
                                                     compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.floor_s <= self.base_s <= self.cap_s or self.max_attempts < 0:
            raise ValueError("backoff needs 0 <= floor_s <= base_s <= cap_s, max_attempts >= 0")

    def ceiling_s(self, attempt: int) -> float:
        """The largest delay attempt ``attempt`` may wait (no jitter)."""
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt, 64))

    def delay_s(self, attempt: int) -> float:
        if attempt < 0:
            raise ValueError("attempt counts from 0")
        ceiling = self.ceiling_s(attempt)
        return min(ceiling, max(self.floor_s, self.uniform(0.0, ceiling)))

    def delays_s(self) -> list[float]:
        """One delay per allowed attempt; an empty list means do not retry."""
        return [self.delay_s(n) for n in range(self.max_attempts)]
