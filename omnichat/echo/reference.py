"""The far-end reference: what the speaker played, findable by the time it left the DAC.

``ReferenceTap.on_played(block, stream_pos, dac_time)`` is called by the output callback with
each 24 kHz block it handed to the device and PortAudio's ``outputBufferDacTime`` for it. It
only copies into preallocated rings under a short lock (no growth, no calls out), so it is safe
inside the callback.

``reference(start_time, count)`` (any other thread) returns ``count`` samples at 16 kHz whose
first one left the DAC at ``start_time`` (PortAudio stream time, the clock of
``inputBufferAdcTime``). Samples never played, or older than the history, are zeros. It
resamples a small window around the wanted span with soxr, so there is no stream-resampler
latency and no seam: alignment comes from the timestamps alone.
"""

from __future__ import annotations

import threading
from fractions import Fraction

import numpy as np

from omnichat.audio.resample import resample
from omnichat.echo import MIC_RATE_HZ
from omnichat.echo.clock import SampleClock

SPEAKER_RATE_HZ = 24_000
_MARGIN_MIC = 128  # 8 ms of filter context each side of a resampled window


class ReferenceTap:
    """Rings of played 24 kHz samples and of (first sample index, DAC time) per block."""

    def __init__(self, rate_hz: int = SPEAKER_RATE_HZ, history_s: float = 4.0,
                 max_blocks: int = 2048):
        self.rate_hz = int(rate_hz)
        self._ring = np.zeros(int(rate_hz * history_s), dtype=np.int16)
        self._starts = np.zeros(max_blocks, dtype=np.int64)  # absolute index of 1st sample
        self._dacs = np.zeros(max_blocks, dtype=np.float64)
        self._blocks = 0  # blocks ever seen; slot = blocks % max_blocks
        self._total = 0  # samples ever seen
        self.last_stream_pos = 0
        self._ratio = Fraction(self.rate_hz, MIC_RATE_HZ)
        self.clock = SampleClock(self.rate_hz)  # DAC times without callback jitter
        # Guards the rings and counters; held for one block copy (callback side) or one
        # snapshot copy (reader side), never across a call out.
        self._lock = threading.Lock()

    def on_played(self, block: np.ndarray, stream_pos: int, dac_time: float) -> None:
        """Record one played block (callback-safe: bounded copies only)."""
        n = min(int(block.shape[0]), self._ring.size)
        dac_time = self.clock.stamp(dac_time, n)
        with self._lock:
            slot = self._blocks % self._starts.size
            self._starts[slot] = self._total
            self._dacs[slot] = dac_time
            start = self._total % self._ring.size
            first = min(n, self._ring.size - start)
            self._ring[start:start + first] = block[:first]
            self._ring[:n - first] = block[first:n]
            self._total += n
            self._blocks += 1
            self.last_stream_pos = stream_pos

    def _index_at(self, dac_time: float) -> float | None:
        """Absolute (fractional) sample index that left the DAC at ``dac_time``."""
        size = self._starts.size
        with self._lock:  # the slot ring is two sorted runs: [head:] is older than [:head]
            if self._blocks == 0:
                return None
            head = self._blocks % size if self._blocks >= size else 0
            older, newer = self._dacs[head:self._blocks if head == 0 else size], self._dacs[:head]
            if newer.size and newer[0] <= dac_time:
                slot = int(np.searchsorted(newer, dac_time, side="right")) - 1
            else:
                slot = head + max(int(np.searchsorted(older, dac_time, side="right")) - 1, 0)
            start, dac = int(self._starts[slot]), float(self._dacs[slot])
        return start + (dac_time - dac) * self.rate_hz

    def raw(self, start: int, count: int) -> np.ndarray:
        """Played samples ``[start, start + count)`` at 24 kHz; unknown ones are zeros."""
        out = np.zeros(count, dtype=np.int16)
        size = self._ring.size
        with self._lock:
            i = max(start, self._total - size, 0)
            hi = min(start + count, self._total)
            while i < hi:  # at most two slices: before and after the wrap
                j = min(hi, i + size - i % size)
                out[i - start:j - start] = self._ring[i % size:i % size + j - i]
                i = j
        return out

    def reference(self, start_time: float, count: int) -> np.ndarray:
        """``count`` 16 kHz samples, the first of which left the DAC at ``start_time``.

        Samples sit on one fixed 16 kHz grid (grid point ``q*m`` is raw sample ``p*m``, where
        ``rate/16000 = p/q``), so consecutive frames join without a seam or a jitter of a
        fraction of a sample whatever the timestamps' jitter.
        """
        index = self._index_at(start_time)
        if index is None:
            return np.zeros(count, dtype=np.int16)
        p, q = self._ratio.numerator, self._ratio.denominator
        first = int(round(index / self._ratio)) - _MARGIN_MIC  # grid index
        m = first // q
        skip = first - q * m + _MARGIN_MIC
        grid_count = skip + count + _MARGIN_MIC
        window = self.raw(p * m, -(-grid_count * p // q))
        if not window.any():
            return np.zeros(count, dtype=np.int16)
        seg = resample(window, self.rate_hz, MIC_RATE_HZ)[skip:skip + count]
        if seg.size < count:
            seg = np.concatenate([seg, np.zeros(count - seg.size, dtype=np.int16)])
        return seg

    def rms(self, start_time: float, end_time: float) -> float:
        """RMS (int16 units) of what left the DAC in ``[start_time, end_time)``."""
        index = self._index_at(start_time)
        if index is None or end_time <= start_time:
            return 0.0
        raw = self.raw(int(index), max(1, int((end_time - start_time) * self.rate_hz)))
        return float(np.sqrt(np.mean(raw.astype(np.float64) ** 2)))
