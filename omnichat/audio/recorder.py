"""``--record FILE``: the conversation as one stereo WAV, both sides on one clock.

Left is the microphone as it was sent (16 kHz, upsampled to the file's 24 kHz), right is what
the speaker actually played (the playback buffer's tap: flushes, fades and silences exactly as
heard), so an interruption is audible where it happened.

Alignment: every block carries a time on one clock — ``time.monotonic()`` — taken where it
happens: a microphone block when it is delivered, minus its own duration (its first sample
was captured then); a played block when the output callback hands it over, plus the device's
output latency. The first block of either side sets the origin. Each side is written
contiguously, and a block whose time says it belongs more than ``SLACK_BLOCKS`` blocks away
from where the side's write position is (a gap in capture, a stream restart, drift) moves
that side's position there: silence is inserted, or the overlap is dropped. So both channels
stay within about one block of the true timeline.

Threads: ``on_mic`` and ``on_played`` run on the audio callbacks and only copy into a bounded
queue (drops counted, never block); the thread ``omnichat-record`` drains it and writes the
file. ``close()`` puts the stop marker, joins the writer and finalises the header, so the WAV
is valid after Ctrl+C and SIGTERM (which the CLI turns into the same unwinding).
"""

from __future__ import annotations

import os
import queue
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from omnichat.audio import MIC_RATE_HZ, SPEAKER_RATE_HZ
from omnichat.errors import UsageError

if TYPE_CHECKING:
    from omnichat.audio.playback import PlayedBlock

RATE_HZ = SPEAKER_RATE_HZ
QUEUE_BLOCKS = 2000  # ~40 s of both sides at 20 ms blocks: the writer only falls behind a disk
SLACK_BLOCKS = 2.0
MAX_SECONDS = 4 * 3600  # a 4-hour recording is 1.4 GB: stop writing beyond it, say so
_LEFT, _RIGHT = 0, 1


class Recorder:
    """A stereo WAV of the microphone (left) and the speaker (right); a context manager."""

    def __init__(self, path: Path, *, output_latency_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.output_latency_s = output_latency_s
        self._clock = clock
        self._queue: queue.Queue[tuple[int, float, np.ndarray] | None] = queue.Queue(
            maxsize=QUEUE_BLOCKS)
        self._origin: float | None = None
        self._written = [0, 0]  # samples written per side (file positions)
        self._frames = 0  # stereo frames in the file
        self._pending: list[np.ndarray] = [np.zeros(0, np.int16), np.zeros(0, np.int16)]
        self.dropped_blocks = 0
        self.truncated = False
        try:  # private speech: readable by the user only
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise UsageError(f"cannot write the recording '{path}': "
                             f"{exc.strerror or exc}; pick another --record path") from None
        self._file = os.fdopen(fd, "wb")
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(RATE_HZ)
        self._thread = threading.Thread(target=self._write_loop, name="omnichat-record")
        self._closed = False
        self.error: BaseException | None = None

    # ---- audio callbacks: copy only ---------------------------------------------------------

    def on_mic(self, block: bytes) -> None:
        """A microphone block as sent (16 kHz int16 bytes); called where it is delivered."""
        samples = np.frombuffer(block, dtype="<i2").copy()
        started = self._clock() - samples.size / MIC_RATE_HZ
        self._put(_LEFT, started, samples)

    def on_played(self, block: PlayedBlock) -> None:
        """The playback buffer's tap: the block the device gets now (a view: copied)."""
        self._put(_RIGHT, self._clock() + self.output_latency_s, block.samples.copy())

    def _put(self, side: int, at: float, samples: np.ndarray) -> None:
        try:
            self._queue.put_nowait((side, at, samples))
        except queue.Full:
            self.dropped_blocks += 1

    # ---- writer thread ------------------------------------------------------------------------

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def _write_loop(self) -> None:
        """Drains the queue (unblocked by a block or close()'s None) and writes the file."""
        try:
            while (item := self._queue.get()) is not None:
                side, at, samples = item
                if side == _LEFT:
                    samples = _upsample_mic(samples)
                self._place(side, at, samples)
                self._flush_frames()
        except BaseException as exc:
            self.error = exc

    def _place(self, side: int, at: float, samples: np.ndarray) -> None:
        if self._origin is None:
            self._origin = at
        due = round((at - self._origin) * RATE_HZ)
        here = self._written[side] + self._pending[side].size
        slack = SLACK_BLOCKS * samples.size
        if due - here > slack:  # a gap: silence up to where the block belongs
            self._pending[side] = np.concatenate(
                [self._pending[side], np.zeros(due - here, np.int16)])
        elif here - due > slack:  # ahead of the clock: drop the overlap
            cut = min(samples.size, here - due)
            samples = samples[cut:]
        self._pending[side] = np.concatenate([self._pending[side], samples])

    def _flush_frames(self) -> None:
        """Write the frames both sides have; a side that stays silent (no speaker in use) is
        padded once the other is more than a second ahead."""
        left, right = self._pending
        n = min(left.size, right.size)
        lag = abs(left.size - right.size)
        if lag > RATE_HZ:
            n = max(left.size, right.size) - RATE_HZ // 2
            left, right = _pad(left, n), _pad(right, n)
        if n <= 0:
            return
        self._write(left[:n], right[:n])
        self._pending = [left[n:], right[n:]]

    def _write(self, left: np.ndarray, right: np.ndarray) -> None:
        if self._frames + left.size > MAX_SECONDS * RATE_HZ:
            self.truncated = True
            return
        frames = np.empty(left.size * 2, dtype="<i2")
        frames[0::2], frames[1::2] = left, right
        self._wav.writeframes(frames.tobytes())
        self._frames += left.size
        self._written[_LEFT] += left.size
        self._written[_RIGHT] += right.size

    # ---- close --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the writer, write what is left of both sides, finalise the header. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(None)  # blocks only while the writer drains a full queue
            self._thread.join()
        left, right = self._pending
        n = max(left.size, right.size)
        if n and self.error is None:
            self._write(_pad(left, n), _pad(right, n))
        self._wav.close()
        self._file.close()
        if self._frames == 0:  # nothing was recorded: leave no empty stub behind
            self.path.unlink(missing_ok=True)
        if self.error is not None:
            raise UsageError(f"cannot write the recording '{self.path}': {self.error}")

    @property
    def seconds(self) -> float:
        return self._frames / RATE_HZ

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _upsample_mic(samples: np.ndarray) -> np.ndarray:
    """16 kHz -> 24 kHz for the file (soxr, one shot per block: quality is not critical for a
    record, and a stateless call keeps the writer simple)."""
    import soxr

    if samples.size == 0:
        return samples
    out = soxr.resample(samples.astype(np.float32), MIC_RATE_HZ, RATE_HZ)
    upsampled: np.ndarray = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    return upsampled


def _pad(samples: np.ndarray, n: int) -> np.ndarray:
    if samples.size >= n:
        return samples[:n]
    return np.concatenate([samples, np.zeros(n - samples.size, np.int16)])
