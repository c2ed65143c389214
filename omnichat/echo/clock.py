"""A smooth sample timeline from jittery per-block timestamps.

PortAudio's ``outputBufferDacTime``/``inputBufferAdcTime`` jitter by 2-11 ms from callback to
callback on some host APIs (ALSA through PulseAudio, measured on the rig). Taken raw, or even
smoothed continuously, the reference wobbles by samples against the microphone and the
canceller's filter never settles (18-26 dB live instead of 40+). ``SampleClock`` therefore
advances by the sample count alone and corrects towards the reported times only in rare
discrete steps: when the mean difference over a window of blocks exceeds ``step_s`` (clock
drift), or at once when a block is ``jump_s`` off (a dropped block, an underrun, a restarted
stream). Arithmetic only: safe inside an audio callback.
"""

from __future__ import annotations


class SampleClock:
    def __init__(self, rate_hz: int, jump_s: float = 0.03, step_s: float = 0.002,
                 window_blocks: int = 100, first_window_blocks: int = 25):
        self.rate_hz = int(rate_hz)
        self.jump_s = jump_s
        self.step_s = step_s
        self.window_blocks = window_blocks
        self._window = first_window_blocks  # settle the first anchor early
        self._next: float | None = None  # predicted time of the next block's first sample
        self._sum = 0.0
        self._count = 0
        self.reanchors = 0
        self.steps = 0

    def stamp(self, reported: float, samples: int) -> float:
        """The time of this block's first sample on the smooth timeline."""
        if self._next is None or abs(reported - self._next) > self.jump_s:
            self.reanchors += self._next is not None
            now = reported
            self._sum, self._count = 0.0, 0
        else:
            now = self._next
            self._sum += reported - now
            self._count += 1
            if self._count >= self._window:
                mean = self._sum / self._count
                if abs(mean) > self.step_s:
                    now += mean
                    self.steps += 1
                self._sum, self._count = 0.0, 0
                self._window = self.window_blocks
        self._next = now + samples / self.rate_hz
        return now
