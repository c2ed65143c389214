"""Speakers that drain a ``PlaybackBuffer``: a real PortAudio device, or a WAV file.

``Speaker`` owns one ``sd.OutputStream``; its callback (PortAudio's thread) only copies from
the buffer. ``FileSpeaker`` owns the thread ``omnichat-file-speaker``, which blocks only on
its stop event (real-time pacing) or the buffer's data event, and ``close()`` unblocks it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from omnichat.audio import SPEAKER_RATE_HZ
from omnichat.audio.devices import device_lost, open_stream, start_stream, stream_latency_s
from omnichat.audio.playback import PlaybackBuffer
from omnichat.audio.resample import StreamResampler
from omnichat.audio.wav import WavWriter
from omnichat.errors import AudioDeviceError

# 5 ms blocks: a flush or a reply's first sample waits at most one short block for the
# callback. The device buffer is at least NATIVE_MIN_LATENCY_S: with two 5 ms blocks (10 ms)
# PortAudio's ALSA output underflowed about 11 times a minute under load on the virtual sound
# card (audible crackle); 20 ms stays clean (docs/benchmarks-latency.md).
BLOCK_MS = 5
NATIVE_MIN_LATENCY_S = 0.020
# A resampled stream underran in bursts below 40 ms of device buffer (ALSA at 44.1/48 kHz),
# and runs in 10 ms blocks: a whole number of frames at 44.1 and 48 kHz.
RESAMPLED_MIN_LATENCY_S = 0.040
RESAMPLED_BLOCK_MS = 10

# After close() is asked, keep the stream running on silence this long past the device
# latency: stopping a PortAudio stream drops the audio still in its buffers (rig pitfall P2).
_TAIL_PAD_S = 0.1


class Speaker:
    """Plays a ``PlaybackBuffer`` on an output device at 24 kHz (or the device rate + soxr)."""

    def __init__(self, buffer: PlaybackBuffer, device: str | int | None = None,
                 block_ms: int = BLOCK_MS):
        self.buffer = buffer
        self._device_spec = device
        self.block_ms = block_ms
        self._stream = None
        self.device_rate_hz = SPEAKER_RATE_HZ
        self.device_underflows = 0  # PortAudio output_underflow flags seen in the callback
        self._closing = False
        self._silent_frames = 0
        self._pad_frames = 0
        self._tail_done = threading.Event()  # set by the callback once the tail has played
        self._fifo = np.zeros(0, dtype=np.int16)
        self._fifo_n = 0
        self._src = np.zeros(0, dtype=np.int16)
        self._resampler: StreamResampler | None = None
        self._fade = np.zeros(0, dtype=np.float32)
        self._flushes_seen = 0
        # Monotonic time of the last callback (a float store from the audio thread; the main
        # thread reads it to notice a device that went away: device_lost()).
        self.last_callback_at = 0.0

    def start(self) -> None:
        stream = open_stream("output", self._device_spec, SPEAKER_RATE_HZ, self._open,
                             _open_failed)
        self._pad_frames = int((stream.latency + _TAIL_PAD_S) * self.device_rate_hz)
        self.buffer.output_latency_s = float(stream.latency)
        start_stream(stream, _open_failed)
        self._stream = stream
        self.last_callback_at = time.monotonic()

    def device_lost(self, now: float) -> AudioDeviceError | None:
        """The error to end the session with when the device stopped calling back."""
        return device_lost("output", self.last_callback_at, now) if self._stream else None

    def _open(self, sd: Any, index: int | None, rate: int) -> Any:
        callback = self._callback
        if rate != SPEAKER_RATE_HZ:
            # 10 ms blocks when resampling: 5 ms is 220.5 frames at 44.1 kHz, and the rounding
            # starved the stream (hundreds of underflows, silence on the virtual sound card).
            self.block_ms = max(self.block_ms, RESAMPLED_BLOCK_MS)
            callback = self._setup_resampling(rate)
        blocksize = rate * self.block_ms // 1000
        self.device_rate_hz = rate
        block_s = blocksize / rate
        floor_s = NATIVE_MIN_LATENCY_S if rate == SPEAKER_RATE_HZ else RESAMPLED_MIN_LATENCY_S
        min_blocks = math.ceil(floor_s / block_s)
        return sd.OutputStream(samplerate=rate, channels=1, dtype="int16",
                               latency=stream_latency_s(sd, index, "output", block_s,
                                                        min_blocks=min_blocks),
                               blocksize=blocksize, device=index, callback=callback)

    def _setup_resampling(self, rate: int) -> Callable[..., None]:
        """Preallocate what the resampling callback needs; returns that callback."""
        self._resampler = StreamResampler(SPEAKER_RATE_HZ, rate)
        self._src = np.zeros(-(-SPEAKER_RATE_HZ * self.block_ms // 1000), dtype=np.int16)
        self._fifo = np.zeros(rate, dtype=np.int16)  # 1 s: far more than a soxr burst
        self._fade = np.linspace(1.0, 0.0, rate // 100 + 1, dtype=np.float32)[1:]  # 10 ms
        self._flushes_seen = self.buffer.flushes
        self.device_rate_hz = rate
        return self._resampling_callback

    # PortAudio's thread: copy only.
    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self.last_callback_at = time.monotonic()
        if status.output_underflow:
            self.device_underflows += 1
        if self._closing:
            outdata.fill(0)
        else:
            self.buffer.read_into(outdata, _dac_time(time_info))
        self._track_tail(outdata, frames)

    def _resampling_callback(self, outdata: np.ndarray, frames: int, time_info: Any,
                             status: Any) -> None:
        self.last_callback_at = time.monotonic()
        if status.output_underflow:
            self.device_underflows += 1
        out = outdata.reshape(-1)
        if self.buffer.flushes != self._flushes_seen:
            self._fade_fifo()
        resampler = self._resampler
        for _ in range(16):  # soxr holds back 3-4 chunks, then bursts; bounded, never spins
            if self._fifo_n >= frames or self._closing or resampler is None:
                break
            dac = _dac_time(time_info)  # what is already resampled plays first
            self.buffer.read_into(self._src, None if dac is None
                                  else dac + self._fifo_n / self.device_rate_hz)
            y = resampler.process(self._src)
            k = min(y.size, self._fifo.size - self._fifo_n)
            self._fifo[self._fifo_n:self._fifo_n + k] = y[:k]
            self._fifo_n += k
        n = min(frames, self._fifo_n)
        out[:n] = self._fifo[:n]
        out[n:] = 0
        self._fifo[: self._fifo_n - n] = self._fifo[n:self._fifo_n]
        self._fifo_n -= n
        self._track_tail(outdata, frames)

    def _fade_fifo(self) -> None:
        """A flush happened: fade out the resampled audio we hold and forget the rest."""
        self._flushes_seen = self.buffer.flushes
        self.buffer.cancel_fade()
        if self._resampler is not None:
            self._resampler.clear()
        k = min(self._fifo_n, self._fade.size)
        self._fifo[:k] = self._fifo[:k] * self._fade[:k]
        self._fifo_n = k

    def _track_tail(self, outdata: np.ndarray, frames: int) -> None:
        self._silent_frames = 0 if outdata.any() else self._silent_frames + frames
        if self._closing and self._silent_frames >= self._pad_frames:
            self._tail_done.set()

    @property
    def latency_s(self) -> float:
        return float(self._stream.latency) if self._stream is not None else 0.0

    def stream_time(self) -> float | None:
        """PortAudio's stream clock now (the clock of DAC/ADC times), None when closed."""
        stream = self._stream
        return float(stream.time) if stream is not None else None

    @property
    def active(self) -> bool:
        """False once the stream stopped by itself (device unplugged, sound server gone)."""
        return bool(self._stream is not None and self._stream.active)

    def close(self) -> None:
        """Stop after the audio already handed to the device has played; idempotent.

        Audio still queued in the buffer is not played: call ``buffer.wait_drained()`` first.
        """
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._closing = True
        if stream.active:
            self._tail_done.wait(self._pad_frames / self.device_rate_hz + 1.0)
        try:
            stream.stop()
        finally:
            stream.close()

    def __enter__(self) -> Speaker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dac_time(time_info: Any) -> float | None:
    """PortAudio's ``outputBufferDacTime`` of this callback's block (its stream clock)."""
    value = getattr(time_info, "outputBufferDacTime", None)
    return float(value) if value else None


def _open_failed(exc: Exception) -> AudioDeviceError:
    return AudioDeviceError(
        f"cannot open the output device: {exc}; pick another output device "
        "(see 'omnichat devices'), or write the reply to a file with --output reply.wav")


class FileSpeaker:
    """The ``--output`` WAV "speaker": consumes the buffer in 10 ms blocks on a real-time clock.

    With ``pace=1.0`` the file is a timeline (silence between replies included); ``pace=0``
    consumes as fast as audio arrives and writes only what was queued.
    """

    def __init__(self, buffer: PlaybackBuffer, path: Path, pace: float = 1.0, block_ms: int = 10):
        self.buffer = buffer
        self.path = Path(path)
        self.pace = pace
        self.block_ms = block_ms
        self._stop = threading.Event()  # close() sets it; the only thing the thread waits on
        self._thread: threading.Thread | None = None
        self._writer: WavWriter | None = None
        self._error: BaseException | None = None
        self.latency_s = 0.0

    def start(self) -> None:
        self._writer = WavWriter(self.path, self.buffer.rate_hz)  # UsageError on a bad path
        self._thread = threading.Thread(target=self._play_loop, args=(self._writer,),
                                        name="omnichat-file-speaker")
        self._thread.start()

    def _play_loop(self, writer: WavWriter) -> None:
        block = np.zeros(self.buffer.rate_hz * self.block_ms // 1000, dtype=np.int16)
        period_s = self.block_ms / 1000.0 / self.pace if self.pace > 0 else 0.0
        t0, blocks = time.monotonic(), 0
        try:
            while not self._stop.is_set():
                if period_s:
                    blocks += 1
                    if self._stop.wait(max(0.0, t0 + blocks * period_s - time.monotonic())):
                        break
                elif not self.buffer.wait_for_data(0.05):
                    continue
                self.buffer.read_into(block)
                writer.write(block if period_s else block[: self.buffer.last_read_filled])
        except BaseException as exc:  # kept and re-raised by close() in the caller's thread
            self._error = exc

    def close(self, *, keep_silent: bool = True) -> None:
        """Stop the thread, join it and finish the WAV (also on Ctrl+C/SIGTERM); idempotent.

        A write that failed (a full disk) removes the unfinished file and is raised here as
        the one-line ``OmnichatError`` the writer made of it. ``keep_silent=False`` removes a
        file that never got any reply audio (a session that failed before it began).
        """
        thread, self._thread = self._thread, None
        writer = self._writer
        if thread is None or writer is None:
            return
        self._stop.set()
        thread.join(timeout=5.0)
        if thread.is_alive():  # pragma: no cover - a bug, reported rather than hidden
            writer.abort()
            raise RuntimeError("omnichat-file-speaker did not stop within 5 s")
        if self._error is not None:
            writer.abort()
            raise self._error
        if not keep_silent and self.buffer.played_samples == 0:
            writer.abort()  # no stub WAV behind a session that failed before any reply
            return
        writer.close()

    def __enter__(self) -> FileSpeaker:
        self.start()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        failed = exc_type is not None and not (isinstance(exc_type, type)
                                               and issubclass(exc_type, KeyboardInterrupt))
        self.close(keep_silent=not failed)
