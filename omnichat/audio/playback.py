"""The playback ring buffer between the receiver thread and the speaker's thread.

One writer (the engine's receiver thread) appends the model's 24 kHz PCM with ``write()``; one
reader (``Speaker``'s thread ``omnichat-speaker``, or ``FileSpeaker``'s) takes fixed blocks with
``read_into()``. Barge-in calls ``flush()``: everything queued is dropped and the next block
plays a ~10 ms fade of what would have come next, then silence, so the cut does not click.

Sample clocks (all monotonic, in samples at ``rate_hz``):

* ``written_samples``: every sample ever written (flushed and overflow-dropped ones included).
  The engine notes ``written_samples`` when a response's first audio arrives: that is its start.
* ``played_samples``: real samples handed to the device. Flushes never move it.
* ``discarded_samples``: samples written but never played (flushed, or dropped on overflow).

``written == played + discarded + queued`` always holds, so a sample's *stream position*
(``played + discarded`` at the moment it is read) equals its index in the written clock.
``heard_samples(start, length)`` turns a response's ``[start, start + length)`` into the exact
number of its samples the device received, skipping flushed ranges; for a response with no
flush in between it is ``clamp(played_samples + discarded_samples - start, 0, length)``.

The played-audio tap: ``add_tap(fn)`` calls ``fn(PlayedBlock)`` for every block handed to the
device, *under the buffer's lock*, with the stream position of its first real sample, how many
real samples it holds (after a flush's fade, before silence), the flush count and the DAC time
PortAudio gave the block. Because the values are taken under the same lock as ``flush()``, a
flushed sample is never reported as played: this is the aligned reference echo cancellation
needs, and how the engine learns the first sample of a reply was heard. The lock is reentrant
(a tap may read the clocks); a tap must only copy — it runs on the speaker's real-time thread.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from omnichat.audio import SPEAKER_RATE_HZ


@dataclass(frozen=True)
class PlayedBlock:
    """One block handed to the device, as the tap sees it (taken under the buffer's lock).

    ``samples`` is the whole block (fade, real samples, then silence), a view valid during the
    call only. Real samples are ``samples[fade:fade + real]`` and occupy stream positions
    ``[position, position + real)`` of the written clock. ``dac_time`` is PortAudio's
    ``outputBufferDacTime`` for the block (its stream clock), None without a device.
    """

    samples: np.ndarray
    position: int
    fade: int
    real: int
    flushes: int
    dac_time: float | None = None


PlayedListener = Callable[[np.ndarray], None]
Tap = Callable[[PlayedBlock], None]


class PlaybackBuffer:
    """24 kHz int16 ring buffer: the receiver thread writes, the speaker's thread reads."""

    def __init__(self, rate_hz: int = SPEAKER_RATE_HZ, capacity_s: float = 120.0):
        self.rate_hz = int(rate_hz)
        self._ring = np.zeros(max(1, int(rate_hz * capacity_s)), dtype=np.int16)
        self._cap = self._ring.size
        # Guards every counter and the ring indices. Held for index arithmetic, one bounded
        # copy (<= one block on the read side) and the taps (which only copy). Reentrant: a
        # tap may read the clocks.
        self._lock = threading.RLock()
        self._read = 0  # ring index of the next sample to play
        self._queued = 0
        self._written = 0
        self._played = 0
        self._discarded = 0
        self._odd_byte = b""  # a write() split mid-sample keeps its first byte here
        # Fade-out prepared by flush() (writer side, may allocate) and played by the reader.
        self._fade = np.zeros(max(1, int(rate_hz * 0.05)), dtype=np.int16)
        self._fade_len = 0
        self._fade_pos = 0
        # (stream position, count) of each discarded range, for heard_samples().
        self._gaps: collections.deque[tuple[int, int]] = collections.deque(maxlen=1024)
        self._expecting = False  # audio is due: running dry now is an underrun
        self._dry = False  # already counted the current dry spell
        self._drained = threading.Event()  # set while nothing (audio or fade) is queued
        self._drained.set()
        self._data = threading.Event()  # set while something is queued (FileSpeaker waits)
        self._taps: list[Tap] = []
        self._zeros = np.zeros(rate_hz // 10, dtype=np.int16)  # tap_silence: up to 100 ms
        self.underruns = 0
        self.dropped_samples = 0
        self.flushes = 0  # readers that buffer audio themselves watch this to drop it too
        self.last_read_filled = 0
        self.output_latency_s = 0.0  # set by the speaker; for heard-time compensation later

    # ---- writer side (engine receiver thread) ---------------------------------------------

    def write(self, pcm: bytes) -> None:
        """Queue little-endian int16 PCM. Never blocks; on overflow the oldest audio is dropped."""
        data = self._odd_byte + bytes(pcm)
        self._odd_byte = data[-1:] if len(data) % 2 else b""
        samples = np.frombuffer(data[: len(data) - len(self._odd_byte)], dtype="<i2")
        if samples.size == 0:
            return
        with self._lock:
            self._append(samples)
            self._expecting = True
            self._dry = False  # new audio ends a dry spell; running short again is a new one
            self._drained.clear()
            self._data.set()

    def _append(self, samples: np.ndarray) -> None:
        n = samples.size
        if n > self._cap:  # keep only the newest capacity's worth
            self._drop_oldest(self._queued)
            self._count_drop(n - self._cap)
            self._written += n - self._cap
            samples = samples[n - self._cap:]
            n = self._cap
        overflow = self._queued + n - self._cap
        if overflow > 0:
            self._drop_oldest(overflow)
        start = (self._read + self._queued) % self._cap
        first = min(n, self._cap - start)
        self._ring[start:start + first] = samples[:first]
        self._ring[: n - first] = samples[first:]
        self._queued += n
        self._written += n

    def _drop_oldest(self, n: int) -> None:
        if n <= 0:
            return
        self._count_drop(n)
        self._read = (self._read + n) % self._cap
        self._queued -= n

    def _count_drop(self, n: int) -> None:
        self._gaps.append((self._played + self._discarded, n))
        self._discarded += n
        self.dropped_samples += n

    def flush(self, fade_ms: float = 10.0) -> int:
        """Drop everything queued; returns how many samples were discarded (never heard).

        The next read plays a linear fade of the first ``fade_ms`` of what was queued (those
        samples count as discarded: they are not part of the heard clock), then silence.
        """
        with self._lock:
            self.flushes += 1
            n = self._queued
            fade_len = min(n, int(self.rate_hz * fade_ms / 1000.0), self._fade.size)
            if fade_len:
                idx = (self._read + np.arange(fade_len)) % self._cap
                ramp = np.linspace(1.0, 0.0, fade_len + 1, dtype=np.float32)[1:]
                self._fade[:fade_len] = (self._ring[idx] * ramp).astype(np.int16)
            self._fade_len, self._fade_pos = fade_len, 0
            if n:
                self._gaps.append((self._played + self._discarded, n))
            self._discarded += n
            self._read = (self._read + n) % self._cap
            self._queued = 0
            self._expecting = False
            self._dry = False
            if fade_len:  # the fade is still to be played: not drained yet
                self._data.set()
            else:
                self._data.clear()
                self._drained.set()
        return n

    def cancel_fade(self) -> None:
        """Drop a pending flush fade (a resampling speaker fades its own buffered audio)."""
        with self._lock:
            self._fade_pos = self._fade_len
            if self._queued == 0:
                self._data.clear()
                self._drained.set()

    def finish(self) -> None:
        """The current response has no more audio: running dry from now on is not an underrun."""
        with self._lock:
            self._expecting = False

    # ---- reader side (the speaker's thread) -----------------------------------------------

    def read_into(self, out: np.ndarray, dac_time: float | None = None) -> int:
        """Fill ``out`` (int16, 1-D or (n, 1)); returns the number of real samples copied.

        A pending flush fade comes first, then queued audio, then zeros. Runs on the speaker's
        real-time thread: no allocation beyond numpy views, the lock is held for one block copy
        and the taps. ``dac_time``: when the block will reach the DAC (PortAudio's clock).
        """
        buf = out.reshape(-1)
        want = buf.size
        with self._lock:
            position = self._played + self._discarded
            pos = self._copy_fade(buf)
            n = min(want - pos, self._queued)
            if n:
                first = min(n, self._cap - self._read)
                buf[pos:pos + first] = self._ring[self._read:self._read + first]
                buf[pos + first:pos + n] = self._ring[: n - first]
                self._read = (self._read + n) % self._cap
                self._queued -= n
                self._played += n
            self.last_read_filled = pos + n  # fade + real samples at the head of the last block
            if pos + n < want:
                buf[pos + n:] = 0
                if self._expecting and not self._dry:
                    self.underruns += 1
                    self._dry = True
            if self._queued == 0 and self._fade_pos >= self._fade_len:
                self._data.clear()
                if not self._drained.is_set():
                    self._drained.set()
            self._tap(buf, position, pos, n, dac_time)
        return n

    def tap_silence(self, samples: int, dac_time: float | None) -> None:
        """Show the taps ``samples`` of silence the speaker wrote on its own (a refill after
        the device ran dry), so that what they record stays what the device plays."""
        with self._lock:
            self._tap(self._zeros[:min(samples, self._zeros.size)],
                      self._played + self._discarded, 0, 0, dac_time)

    def _tap(self, samples: np.ndarray, position: int, fade: int, real: int,
             dac_time: float | None) -> None:
        """Hand one block to every tap (under the lock)."""
        if self._taps:
            block = PlayedBlock(samples, position, fade, real, self.flushes, dac_time)
            for tap in self._taps:
                tap(block)

    def _copy_fade(self, buf: np.ndarray) -> int:
        left = self._fade_len - self._fade_pos
        if left <= 0:
            return 0
        k = min(left, buf.size)
        buf[:k] = self._fade[self._fade_pos:self._fade_pos + k]
        self._fade_pos += k
        return k

    def add_tap(self, fn: Tap) -> None:
        """Call ``fn(PlayedBlock)`` for every block handed to the device, silence included, in
        order, under the buffer's lock (see the module docstring). ``fn`` must only copy."""
        self._taps = [*self._taps, fn]  # copy-on-write: the reader never sees a half list

    def add_played_listener(self, fn: PlayedListener) -> None:
        """Call ``fn(samples)`` with every block handed to the device (a tap on the samples)."""
        self.add_tap(lambda block: fn(block.samples))

    # ---- clocks and waits -----------------------------------------------------------------

    @property
    def played_samples(self) -> int:
        return self._played

    @property
    def written_samples(self) -> int:
        return self._written

    @property
    def discarded_samples(self) -> int:
        return self._discarded

    @property
    def queued_samples(self) -> int:
        return self._queued

    @property
    def busy(self) -> bool:
        """Audio is queued, due (a reply not finished) or a flush's fade is still to play."""
        return self._queued > 0 or self._expecting or self._fade_pos < self._fade_len

    @property
    def stream_position(self) -> int:
        """Index, in the written clock, of the next sample the reader will take."""
        with self._lock:
            return self._played + self._discarded

    def heard_samples(self, start: int, length: int, latency_samples: int = 0) -> int:
        """How many samples of ``[start, start + length)`` (written clock) the device received.

        Exact across flushes and overflow drops; ``latency_samples`` (e.g. from
        ``output_latency_s``) discounts audio handed over but not yet out of the speaker.
        """
        with self._lock:
            pos = self._played + self._discarded
            gaps = list(self._gaps)
        end = start + length
        reached = max(0, min(pos, end) - start)
        for gap_start, gap_len in gaps:
            lo, hi = max(gap_start, start), min(gap_start + gap_len, end, pos)
            if hi > lo:
                reached -= hi - lo
        return max(0, reached - max(0, latency_samples))

    def wait_drained(self, timeout_s: float) -> bool:
        """Block until nothing is queued (a pending fade included); False on timeout."""
        return self._drained.wait(timeout_s)

    def wait_for_data(self, timeout_s: float) -> bool:
        """Block until something is queued; False on timeout (FileSpeaker's idle wait)."""
        return self._data.wait(timeout_s)

    @property
    def stats(self) -> dict[str, int]:
        return {"underruns": self.underruns, "dropped_samples": self.dropped_samples,
                "queued_samples": self._queued, "played_samples": self._played,
                "written_samples": self._written, "discarded_samples": self._discarded}
