"""The service's documented limits on session settings: one place for the client and emulator.

Pure data. The client's settings table (``omnichat.config.schema``) refuses a value outside
these ranges before connecting; the emulator (``omnichat.emulator.config``) answers the same
value with an ``error`` event, as the service would. Sources: the vendor guide and the
protocol reference (``turn_detection`` and sampling tables).

Two ranges the sources leave open are decided here once:
- ``prefix_padding_ms`` is echoed by the service but its range is not documented; both sides
  accept 0..6000, the span of ``silence_duration_ms``.
- ``seed`` is documented as 0 .. 2^31-1; the ``-1`` in the service's echoes means "not set",
  so a client never sends it and the emulator refuses it like any other out-of-range value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INT32_MAX = 2**31 - 1
UNBOUNDED = math.inf


@dataclass(frozen=True)
class Range:
    """A closed interval, unless ``open_low``/``open_high`` exclude an end."""

    low: float
    high: float
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        above = self.low < value if self.open_low else self.low <= value
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def text(self) -> str:
        """The range for people: ``from 0 up to (not including) 2``, ``above 0 and at most 1``."""
        if self.high == UNBOUNDED:
            return f"above {_num(self.low)}" if self.open_low else f"{_num(self.low)} or more"
        low = f"above {_num(self.low)}" if self.open_low else f"from {_num(self.low)}"
        if self.open_high:
            high = f"up to (not including) {_num(self.high)}"
        else:
            high = f"at most {_num(self.high)}" if self.open_low else f"to {_num(self.high)}"
        return f"{low} and {high}" if self.open_low else f"{low} {high}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


THRESHOLD = Range(-1.0, 1.0)
SILENCE_DURATION_MS = Range(200, 6000)
PREFIX_PADDING_MS = Range(0, 6000)
IDLE_TIMEOUT_MS = Range(5000, 30000)
TURN_DETECTION: dict[str, Range] = {
    "threshold": THRESHOLD,
    "silence_duration_ms": SILENCE_DURATION_MS,
    "prefix_padding_ms": PREFIX_PADDING_MS,
    "idle_timeout_ms": IDLE_TIMEOUT_MS,
}

TEMPERATURE = Range(0.0, 2.0, open_high=True)
TOP_P = Range(0.0, 1.0, open_low=True)
TOP_K = Range(0, UNBOUNDED)  # above 100 disables top_k
REPETITION_PENALTY = Range(0.0, UNBOUNDED, open_low=True)
REPETITION_PENALTY_QWEN38 = Range(0.0, UNBOUNDED)  # qwen3.8 also takes 0 (its default)
PRESENCE_PENALTY = Range(-2.0, 2.0)
SEED = Range(0, INT32_MAX)
MAX_TOKENS = Range(1, UNBOUNDED)  # the model's output limit narrows it (catalog.Model)
SAMPLING: dict[str, Range] = {
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "top_k": TOP_K,
    "max_tokens": MAX_TOKENS,
    "repetition_penalty": REPETITION_PENALTY,
    "presence_penalty": PRESENCE_PENALTY,
    "seed": SEED,
}
