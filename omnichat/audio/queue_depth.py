"""How much audio the speaker keeps queued ahead of the DAC: short while idle, deep while playing.

Pure bookkeeping (no threads, no clock reads: time is an argument), owned by the speaker's
thread. While nothing plays, ``idle_ms`` stays queued: a reply's first sample waits behind
little more than that; the default 0 lets the device run empty between replies (the speaker
writes nothing then, so an idle underflow cannot happen). While a reply plays,
``margin_ms``: the slack the speaker thread has before the device runs dry when the machine
is busy. A device underflow during a reply grows the margin by ``step_ms``, up to
``max_ms``. An underflow while idle only plays silence a little late, so the idle depth (the
wait of every reply's first sample) grows only when the device runs dry block after block:
``IDLE_BURST`` times within ``idle_burst_s`` (a sound server that resamples the stream in
large chunks drains it at every block). Each ``shrink_after_s`` without an underflow gives
one step of each back, never below the floors. Figures and the choice of the defaults:
docs/benchmarks-latency.md.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

IDLE_MS = 0.0  # nothing queued while idle: the device runs empty between replies
MARGIN_MS = 20.0
MAX_MS = 35.0  # the device buffer (40 ms) less one block
STEP_MS = 5.0
SHRINK_AFTER_S = 30.0
IDLE_BURST = 10


@dataclass
class QueueDepth:
    idle_floor_ms: float = IDLE_MS
    margin_floor_ms: float = MARGIN_MS
    max_ms: float = MAX_MS
    step_ms: float = STEP_MS
    shrink_after_s: float = SHRINK_AFTER_S
    idle_burst_s: float = 1.0
    idle_ms: float = field(init=False)
    margin_ms: float = field(init=False)
    grown: int = field(default=0, init=False)  # underflows that grew a depth
    _calm_since: float | None = field(default=None, init=False)
    _idle_times: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=IDLE_BURST), init=False)

    def __post_init__(self) -> None:
        self.idle_ms = self.idle_floor_ms
        self.margin_ms = self.margin_floor_ms

    def underflowed(self, now: float, *, playing: bool) -> None:
        """The device ran dry: keep more queued from now on in that state."""
        if playing:
            if self.margin_ms < self.max_ms:
                self.margin_ms = min(self.max_ms, self.margin_ms + self.step_ms)
                self.grown += 1
            self._calm_since = now
            return
        times = self._idle_times
        times.append(now)
        if len(times) == times.maxlen and now - times[0] <= self.idle_burst_s:
            times.clear()
            if self.idle_ms < self.max_ms:
                self.idle_ms = min(self.max_ms, self.idle_ms + self.step_ms)
                self.grown += 1
            self._calm_since = now

    def tick(self, now: float) -> None:
        """Called per block: after a calm ``shrink_after_s``, give back one step of each."""
        if self.margin_ms <= self.margin_floor_ms and self.idle_ms <= self.idle_floor_ms:
            return
        if self._calm_since is None:
            self._calm_since = now
        elif now - self._calm_since >= self.shrink_after_s:
            self.margin_ms = max(self.margin_floor_ms, self.margin_ms - self.step_ms)
            self.idle_ms = max(self.idle_floor_ms, self.idle_ms - self.step_ms)
            self._calm_since = now
