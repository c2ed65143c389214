"""A smooth sample timeline from jittery per-block timestamps.

PortAudio's ``outputBufferDacTime``/``inputBufferAdcTime`` jitter by a few milliseconds from
callback to callback on some host APIs (ALSA through PulseAudio among them). Taken raw, the
reference would jump by a few samples between frames and the canceller's filter would never
settle. ``SampleClock`` advances by the sample count instead, drifts towards the reported
times slowly (``alpha`` per block), and re-anchors only on a jump (``jump_s``: a dropped block,
an underrun, a restarted stream). Arithmetic only: safe inside an audio callback.
"""

from __future__ import annotations


class SampleClock:
    def __init__(self, rate_hz: int, jump_s: float = 0.02, alpha: float = 0.02):
        self.rate_hz = int(rate_hz)
        self.jump_s = jump_s
        self.alpha = alpha
        self._next: float | None = None  # predicted time of the next block's first sample
        self.reanchors = 0

    def stamp(self, reported: float, samples: int) -> float:
        """The smoothed time of this block's first sample; ``samples`` is its length."""
        if self._next is None or abs(reported - self._next) > self.jump_s:
            now = reported
            self.reanchors += self._next is not None
        else:
            now = self._next + self.alpha * (reported - self._next)
        self._next = now + samples / self.rate_hz
        return now
