"""The blocks the speaker hands its device: copies from the playback buffer, resampled if needed.

``DeviceFeed`` is owned by the speaker's thread (``omnichat-speaker``) and runs nowhere else.
``next_block(dac_time)`` returns one block at the device's rate in an array allocated once and
reused, so handing a block over allocates nothing at the wire rate. When the device refused
24 kHz it converts with soxr here, in that thread, never in an audio callback:

* while nothing plays, silence goes straight to the device, not through soxr, so no resampled
  silence is queued ahead of a reply's first sample;
* soxr holds 3-4 blocks back and then emits them at once, so at a reply's start the feed reads
  up to 16 blocks ahead in one call to get the first burst out now rather than 35 ms later;
* when the reply ends, the held-back tail is flushed (``last=True``);
* after a ``PlaybackBuffer.flush()``, the resampled audio still held is faded over 10 ms and
  the rest dropped (the buffer's own fade is cancelled: it would play twice).
"""

from __future__ import annotations

import numpy as np

from omnichat.audio import SPEAKER_RATE_HZ
from omnichat.audio.playback import PlaybackBuffer
from omnichat.audio.resample import StreamResampler

_MAX_READS = 16  # blocks read ahead per call at most: bounded, never spins


class DeviceFeed:
    """One block at a time for a device running at ``device_rate_hz``."""

    def __init__(self, buffer: PlaybackBuffer, device_rate_hz: int, block_ms: int):
        self.buffer = buffer
        self.device_rate_hz = int(device_rate_hz)
        self._src = np.zeros(SPEAKER_RATE_HZ * block_ms // 1000, dtype=np.int16)
        self._out = np.zeros(self.device_rate_hz * block_ms // 1000, dtype=np.int16)
        self._resampler: StreamResampler | None = None
        self._fifo = np.zeros(0, dtype=np.int16)  # resampled audio not yet handed over
        self._fifo_n = 0
        self._fed = False  # soxr holds audio of the current reply back
        self._fade = np.zeros(0, dtype=np.float32)
        self._flushes_seen = buffer.flushes
        if self.device_rate_hz != SPEAKER_RATE_HZ:
            self._resampler = StreamResampler(SPEAKER_RATE_HZ, self.device_rate_hz)
            self._fifo = np.zeros(self.device_rate_hz, dtype=np.int16)  # 1 s >> a soxr burst
            rate = self.device_rate_hz
            self._fade = np.linspace(1.0, 0.0, rate // 100 + 1, dtype=np.float32)[1:]  # 10 ms

    @property
    def block_frames(self) -> int:
        return self._out.size

    @property
    def held_frames(self) -> int:
        """Resampled frames read from the buffer but not yet handed to the device."""
        return self._fifo_n

    @property
    def busy(self) -> bool:
        """A reply is playing, due, or still held here (the speaker keeps its margin)."""
        return self.buffer.busy or self._fifo_n > 0 or self._fed

    def next_block(self, dac_time: float | None = None) -> np.ndarray:
        """The next block (a reused array: copy it to keep it). ``dac_time``: when its first
        frame reaches the DAC (PortAudio's stream clock), for the buffer's taps."""
        if self._resampler is None:
            self.buffer.read_into(self._out, dac_time)
            return self._out
        return self._next_resampled(dac_time)

    def _next_resampled(self, dac_time: float | None) -> np.ndarray:
        if self.buffer.flushes != self._flushes_seen:
            self._fade_held()
        out, rate = self._out, self.device_rate_hz
        for _ in range(_MAX_READS):
            if self._fifo_n >= out.size:
                break
            dac = None if dac_time is None else dac_time + self._fifo_n / rate
            real = self.buffer.read_into(self._src, dac)
            if real == 0 and self.buffer.last_read_filled == 0 and not self._fed:
                break  # idle: silence goes straight out, not through soxr
            self._resample_src(last=not self.buffer.busy)
        n = min(out.size, self._fifo_n)
        out[:n] = self._fifo[:n]
        out[n:] = 0
        self._fifo[: self._fifo_n - n] = self._fifo[n:self._fifo_n]
        self._fifo_n -= n
        return out

    def _resample_src(self, last: bool) -> None:
        """The 24 kHz block through soxr into the FIFO; ``last`` flushes its held tail."""
        if self._resampler is None:
            return
        y = self._resampler.process(self._src, last=last)
        k = min(y.size, self._fifo.size - self._fifo_n)
        self._fifo[self._fifo_n:self._fifo_n + k] = y[:k]
        self._fifo_n += k
        self._fed = not last
        if last:
            self._resampler.clear()

    def _fade_held(self) -> None:
        """A flush happened: fade out the resampled audio held here and forget the rest."""
        self._flushes_seen = self.buffer.flushes
        self.buffer.cancel_fade()
        if self._resampler is not None:
            self._resampler.clear()
        self._fed = False
        k = min(self._fifo_n, self._fade.size)
        self._fifo[:k] = self._fifo[:k] * self._fade[:k]
        self._fifo_n = k

    def take_held(self) -> np.ndarray:
        """What is still held (a copy), emptied: the speaker plays it before stopping."""
        held: np.ndarray = self._fifo[: self._fifo_n].copy()
        self._fifo_n = 0
        return held
