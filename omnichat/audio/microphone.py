"""Microphones that deliver 16 kHz int16 mono blocks to ``on_block(bytes)``.

(A ``Microphone`` with ``channels`` 2 or 4 delivers interleaved frames of a microphone
array instead, unprocessed: docs/qwen38.md.)

Both run the same chain per block: capture -> 16 kHz mono int16 -> ``stages`` -> ``on_block``.
A stage (echo cancellation, local VAD later) takes and returns an int16 block, or returns
``None`` to drop it. ``on_block`` must not block (the engine does ``put_nowait``).

``Microphone`` owns one ``sd.InputStream`` and the thread ``omnichat-mic``. The stream's
callback (PortAudio's thread) only copies each block into a slot of memory allocated once and
sets an event; ``omnichat-mic`` waits on that event, resamples when the device refused
16 kHz, runs the stages and calls ``on_block``. ``close()`` stops the stream, then sets the
event and joins the thread. ``WavMicrophone`` owns the thread ``omnichat-wav-mic``, which
blocks only on its stop event (pacing) and is unblocked by ``close()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnichat.audio import BLOCK_MS, MIC_RATE_HZ
from omnichat.audio.devices import device_lost, open_stream, start_stream, stream_latency_s
from omnichat.audio.level import SILENCE_DBFS, rms_dbfs
from omnichat.audio.resample import StreamResampler
from omnichat.audio.wav import read_wav_mono
from omnichat.errors import AudioDeviceError

MicStage = Callable[[np.ndarray], "np.ndarray | None"]


class _BlockChain:
    """Stages, level meter and delivery shared by both microphones (runs on their thread)."""

    def __init__(self, on_block: Callable[[bytes], None], stages: Sequence[MicStage]):
        self._on_block = on_block
        self._stages = tuple(stages)
        self.level_dbfs = SILENCE_DBFS
        self.peak_dbfs = SILENCE_DBFS  # the loudest block so far: "it never hears me" hints
        self.blocks_sent = 0
        self.blocks_dropped_by_stages = 0
        # PortAudio's inputBufferAdcTime of the block being delivered (its stream clock),
        # valid while ``on_block`` runs; None for a file. Echo cancellation aligns on it.
        self.block_adc_time: float | None = None

    def deliver(self, block: np.ndarray, adc_time: float | None = None) -> None:
        self.block_adc_time = adc_time
        self.level_dbfs = rms_dbfs(block)
        if self.level_dbfs > self.peak_dbfs:
            self.peak_dbfs = self.level_dbfs
        for stage in self._stages:
            staged = stage(block)
            if staged is None:
                self.blocks_dropped_by_stages += 1
                return
            block = staged
        self._on_block(block.astype("<i2", copy=False).tobytes())
        self.blocks_sent += 1


class Microphone:
    """Captures an input device as 16 kHz mono int16 blocks of ``block_ms``."""

    def __init__(self, on_block: Callable[[bytes], None], device: str | int | None = None,
                 block_ms: int = BLOCK_MS, stages: Sequence[MicStage] = (), channels: int = 1):
        if channels > 1 and stages:
            raise ValueError("the stages work on one channel; a microphone array has none")
        self._chain = _BlockChain(on_block, stages)
        # A microphone array (qwen3.8, docs/qwen38.md): blocks are interleaved frames of
        # this many channels, captured at 16 kHz as they are (never resampled).
        self.channels = channels
        self._device_spec = device
        self.block_ms = block_ms
        self.block_samples = MIC_RATE_HZ * block_ms // 1000
        self.device_rate_hz = MIC_RATE_HZ
        self.overflows = 0  # PortAudio input_overflow flags, and blocks the worker fell behind
        self.error: BaseException | None = None  # first exception raised by a stage/on_block
        self._stream = None
        self._resampler: StreamResampler | None = None
        self._fifo = np.zeros(0, dtype=np.int16)  # re-blocks resampled audio to block_samples
        self._fifo_n = 0
        self._slots = _CaptureSlots(0)
        self._ready = threading.Event()  # the callback sets it; the worker's only wait
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        # Monotonic time of the last callback (a float store from the audio thread; the main
        # thread reads it to notice a device that went away: device_lost()).
        self.last_callback_at = 0.0

    def start(self) -> None:
        stream = open_stream("input", self._device_spec, MIC_RATE_HZ, self._open, _open_failed)
        self._worker = threading.Thread(target=self._work_loop, name="omnichat-mic")
        self._worker.start()
        try:
            start_stream(stream, _open_failed)
        except BaseException:
            self._stop_worker()
            raise
        self._stream = stream
        self.last_callback_at = time.monotonic()

    def device_lost(self, now: float) -> AudioDeviceError | None:
        """The error to end the session with when the device stopped calling back."""
        return device_lost("input", self.last_callback_at, now) if self._stream else None

    def _open(self, sd: Any, index: int | None, rate: int) -> Any:
        if self.channels > 1:
            return self._open_array(sd, index, rate)
        if rate != MIC_RATE_HZ:
            self._resampler = StreamResampler(rate, MIC_RATE_HZ)
            self._fifo = np.zeros(MIC_RATE_HZ, dtype=np.int16)  # 1 s: more than a soxr burst
        self.device_rate_hz = rate
        blocksize = rate * self.block_ms // 1000
        self._slots = _CaptureSlots(blocksize)
        return sd.InputStream(samplerate=rate, channels=1, dtype="int16",
                              latency=stream_latency_s(sd, index, "input", blocksize / rate,
                                                       min_blocks=1 if rate == MIC_RATE_HZ else 2),
                              blocksize=blocksize, device=index, callback=self._callback)

    def _open_array(self, sd: Any, index: int | None, rate: int) -> Any:
        """All ``channels`` of the device at 16 kHz, or one line saying why not."""
        info = sd.query_devices(index, "input")
        name, have = info.get("name", "the input device"), int(info["max_input_channels"])
        if have < self.channels:
            raise AudioDeviceError(
                f"{name} has {have} input channel{'s' * (have != 1)}; --input-channels "
                f"{self.channels} needs a device with at least {self.channels} (see "
                "`omnichat devices`), or use --input-channels 1")
        if rate != MIC_RATE_HZ:
            raise AudioDeviceError(
                f"{name} cannot record {self.channels} channels at 16 kHz; pick another "
                "input device (see `omnichat devices`), or use --input-channels 1")
        blocksize = rate * self.block_ms // 1000
        self._slots = _CaptureSlots(blocksize, self.channels)  # interleaved frames
        return sd.InputStream(samplerate=rate, channels=self.channels, dtype="int16",
                              latency=stream_latency_s(sd, index, "input", blocksize / rate,
                                                       min_blocks=1),
                              blocksize=blocksize, device=index, callback=self._callback)

    # PortAudio's thread: copy into a slot and wake the worker; nothing else.
    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self.last_callback_at = time.monotonic()
        if status.input_overflow:
            self.overflows += 1
        if not self._slots.put(indata, frames, _adc_time(time_info)):
            self.overflows += 1  # the worker is a whole second behind: drop, count
        self._ready.set()

    def _work_loop(self) -> None:
        """Thread ``omnichat-mic``: blocks on ``_ready`` (set by each callback and by close)."""
        while True:
            self._ready.wait(0.5)
            self._ready.clear()
            self._slots.drain(self._process)
            if self._stop.is_set():
                return

    def _process(self, block: np.ndarray, adc_time: float | None) -> None:
        if self._resampler is None:
            self._deliver(block.copy(), adc_time)
            return
        y = self._resampler.process(block)
        k = min(y.size, self._fifo.size - self._fifo_n)
        self._fifo[self._fifo_n:self._fifo_n + k] = y[:k]
        self._fifo_n += k
        while self._fifo_n >= self.block_samples:
            out = self._fifo[: self.block_samples].copy()
            rest = self._fifo[self.block_samples:self._fifo_n]
            self._fifo[: rest.size] = rest
            self._fifo_n -= self.block_samples
            self._deliver(out, adc_time)

    def _deliver(self, block: np.ndarray, adc_time: float | None = None) -> None:
        if self.error is not None:
            return
        try:
            self._chain.deliver(block, adc_time)
        except Exception as exc:
            self.error = exc

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._stop.set()
        self._ready.set()
        worker.join(timeout=5.0)
        if worker.is_alive():  # pragma: no cover - a bug, reported rather than hidden
            raise RuntimeError("omnichat-mic did not stop within 5 s")

    @property
    def level_dbfs(self) -> float:
        return self._chain.level_dbfs

    @property
    def peak_dbfs(self) -> float:
        return self._chain.peak_dbfs

    @property
    def block_adc_time(self) -> float | None:
        """The ADC time of the block ``on_block`` is being called with (PortAudio clock)."""
        return self._chain.block_adc_time

    @property
    def stats(self) -> dict[str, int]:
        return {"overflows": self.overflows, "blocks_sent": self._chain.blocks_sent,
                "blocks_dropped_by_stages": self._chain.blocks_dropped_by_stages}

    @property
    def latency_s(self) -> float:
        return float(self._stream.latency) if self._stream is not None else 0.0

    def stream_time(self) -> float | None:
        """PortAudio's stream clock now (the clock of DAC/ADC times), None when closed."""
        stream = self._stream
        return float(stream.time) if stream is not None else None

    @property
    def active(self) -> bool:
        return bool(self._stream is not None and self._stream.active)

    def close(self) -> None:
        """Stop the stream, then deliver what was captured and join the worker; idempotent."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.stop()
        finally:
            stream.close()
            self._stop_worker()

    def __enter__(self) -> Microphone:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _CaptureSlots:
    """Ring of device blocks between the input callback (one writer) and ``omnichat-mic``.

    Allocated once: ``put`` copies a block into the next free slot (no allocation of its
    size), ``drain`` hands the filled slots to the worker in order. The writer publishes a
    slot by advancing ``_written`` after the copy; the reader frees it by advancing ``_read``.
    """

    SLOTS = 64  # 1.28 s of 20 ms blocks

    def __init__(self, block_frames: int, channels: int = 1):
        self._channels = channels  # > 1: a microphone array's frames, kept interleaved
        self._data = np.zeros((self.SLOTS, max(1, block_frames) * channels), dtype=np.int16)
        self._frames = np.zeros(self.SLOTS, dtype=np.int64)
        self._adc = np.zeros(self.SLOTS, dtype=np.float64)  # 0.0: no ADC time
        self._written = 0
        self._read = 0

    def put(self, indata: np.ndarray, frames: int, adc_time: float | None) -> bool:
        if self._written - self._read >= self.SLOTS:
            return False
        k = self._written % self.SLOTS
        n = min(frames, self._data.shape[1] // self._channels)
        if self._channels == 1:
            self._data[k, :n] = indata[:n, 0]
        else:  # the device's own interleaved layout: a view of it, copied once
            self._data[k, :n * self._channels] = indata[:n].reshape(-1)
        self._frames[k] = n * self._channels
        self._adc[k] = adc_time or 0.0
        self._written += 1
        return True

    def drain(self, process: Callable[[np.ndarray, float | None], None]) -> None:
        while self._read < self._written:
            k = self._read % self.SLOTS
            adc = float(self._adc[k])
            process(self._data[k, : int(self._frames[k])], adc or None)
            self._read += 1


def _adc_time(time_info: Any) -> float | None:
    value = getattr(time_info, "inputBufferAdcTime", None)
    return float(value) if value else None


def _open_failed(exc: Exception) -> AudioDeviceError:
    return AudioDeviceError(
        f"cannot open the input device: {exc}; pick another input device "
        "(see 'omnichat devices'), or speak from a file with --input question.wav")


class WavMicrophone:
    """``--input`` WAV as a microphone: lead silence, the file, then silence until ``close()``.

    Paced on a monotonic clock (``pace=1`` real time, ``2`` twice as fast, ``0`` no pacing
    for the file; the trailing silence is always paced in real time so it cannot spin).
    """

    def __init__(self, path: Path, on_block: Callable[[bytes], None], block_ms: int = BLOCK_MS,
                 pace: float = 1.0, lead_silence_s: float = 0.3, stages: Sequence[MicStage] = ()):
        self.path = Path(path)
        self._samples = read_wav_mono(self.path, MIC_RATE_HZ)  # UsageError on a bad file
        self._chain = _BlockChain(on_block, stages)
        self.block_ms = block_ms
        self.block_samples = MIC_RATE_HZ * block_ms // 1000
        self.pace = pace
        self.lead_blocks = int(round(lead_silence_s * 1000 / block_ms))
        self.file_duration_s = self._samples.size / MIC_RATE_HZ
        self.file_done = threading.Event()  # set once the file's last sample was delivered
        self.overflows = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()  # close() sets it; the thread's only wait
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._capture_loop, name="omnichat-wav-mic")
        self._thread.start()

    def _capture_loop(self) -> None:
        period_s = self.block_ms / 1000.0
        t0, sent = time.monotonic(), 0
        silence = np.zeros(self.block_samples, dtype=np.int16)
        file_blocks = -(-self._samples.size // self.block_samples)
        try:
            for i in range(self.lead_blocks + file_blocks):
                if self._wait(t0 + sent * period_s / self.pace if self.pace > 0 else 0.0):
                    return
                self._chain.deliver(silence.copy() if i < self.lead_blocks
                                    else self._file_block(i - self.lead_blocks))
                sent += 1
            self.file_done.set()
            t0, sent = time.monotonic(), 0
            while not self._wait(t0 + (sent + 1) * period_s):
                self._chain.deliver(silence.copy())
                sent += 1
        except Exception as exc:
            self.error = exc

    def _wait(self, deadline: float) -> bool:
        """Wait until ``deadline`` (monotonic) or close(); True means stop."""
        return self._stop.wait(max(0.0, deadline - time.monotonic()))

    def _file_block(self, k: int) -> np.ndarray:
        block = np.zeros(self.block_samples, dtype=np.int16)
        chunk = self._samples[k * self.block_samples:(k + 1) * self.block_samples]
        block[: chunk.size] = chunk
        return block

    @property
    def level_dbfs(self) -> float:
        return self._chain.level_dbfs

    @property
    def peak_dbfs(self) -> float:
        return self._chain.peak_dbfs

    @property
    def stats(self) -> dict[str, int]:
        return {"overflows": 0, "blocks_sent": self._chain.blocks_sent,
                "blocks_dropped_by_stages": self._chain.blocks_dropped_by_stages}

    def close(self) -> None:
        """Stop and join the thread; idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout=5.0)
        if thread.is_alive():  # pragma: no cover - a bug, reported rather than hidden
            raise RuntimeError("omnichat-wav-mic did not stop within 5 s")

    def __enter__(self) -> WavMicrophone:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
