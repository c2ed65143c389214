"""Speakers that drain a ``PlaybackBuffer``: a real PortAudio device, or a WAV file.

``Speaker`` owns one blocking ``sd.OutputStream`` and the thread ``omnichat-speaker`` that
feeds it (docs/audio.md, "The speaker's queue"). The thread lets the device run empty while
nothing plays, so a reply's first sample goes straight to the DAC (its first write carries
the margin), and keeps a margin queued while a reply plays (grown after a device underflow,
shrunk slowly). It copies blocks from the buffer into preallocated arrays; on a device that
refuses 24 kHz it also resamples (soxr), outside any audio callback. It blocks only on the
buffer's data event (idle) or its stop event (playing: until the device has room), never in
``write()`` for longer than it takes the device to accept one block; ``close()`` unblocks it.

``FileSpeaker`` owns the thread ``omnichat-file-speaker``, which blocks only on its stop event
(real-time pacing) or the buffer's data event, and ``close()`` unblocks it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from omnichat.audio import SPEAKER_RATE_HZ
from omnichat.audio.device_feed import DeviceFeed
from omnichat.audio.devices import device_lost, open_stream, start_stream
from omnichat.audio.playback import PlaybackBuffer
from omnichat.audio.priority import raise_current_thread, raise_sound_server_threads
from omnichat.audio.queue_depth import QueueDepth
from omnichat.audio.wav import WavWriter
from omnichat.errors import AudioDeviceError

# 5 ms blocks: the thread hands the device one block at a time, so a flush or a reply's first
# sample waits behind at most the queue below plus one block.
BLOCK_MS = 5
# The device's buffer: room for the deepest margin. Through ALSA (and its PulseAudio plugin)
# a 30 ms request gives a 40 ms buffer in 10 ms periods; a stream that ran dry restarts only
# once a period is queued again, which is why a reply's first write holds the whole margin.
DEVICE_BUFFER_S = 0.030

# After close() is asked, keep the stream running on silence this long past what is queued:
# stopping a PortAudio stream drops the audio still in its buffers (rig pitfall P2).
_TAIL_PAD_S = 0.1
# The thread's longest sleep: how soon it notices close() or a device that stopped taking audio.
_MAX_WAIT_S = 0.05


class Speaker:
    """Plays a ``PlaybackBuffer`` on an output device at 24 kHz (or the device rate + soxr)."""

    def __init__(self, buffer: PlaybackBuffer, device: str | int | None = None,
                 block_ms: int = BLOCK_MS, depth: QueueDepth | None = None):
        self.buffer = buffer
        self._device_spec = device
        self.block_ms = block_ms
        self.depth = depth or QueueDepth()
        self._stream: Any = None
        self._feed: DeviceFeed | None = None
        self.device_rate_hz = SPEAKER_RATE_HZ
        self.device_underflows = 0  # the device ran dry while a reply played (PortAudio flag)
        self.idle_underflows = 0  # ... while only silence was queued (inaudible)
        self._capacity = 0  # frames the device buffer holds (write_available when empty)
        self._playing = False
        self._wrote_playing = False  # the state when the previous block was written
        # Set at start and after the device ran dry: the next write first tops the queue up
        # with silence in one call. A stream (re)started by a single 5 ms block runs dry
        # again at once, and through ALSA each time costs a restart (docs/audio.md).
        self._prime = True
        self._started = False  # the first write went out (the stream's first fill)
        self._silence = np.zeros(0, dtype=np.int16)
        self._burst = np.zeros(0, dtype=np.int16)  # a reply's first write on an empty device
        self._idle_due = 0.0  # when the next silent block is due to the taps while idle
        self._stop = threading.Event()  # close() sets it; the thread's wait while playing
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None  # what ended the thread (a device gone)
        self.priority = "normal"  # what the speaker thread got (audio/priority.py)
        # Monotonic time of the last block handed to the device (a float store from the
        # speaker thread; the main thread reads it to notice a device that went away).
        self.last_callback_at = 0.0

    def start(self) -> None:
        stream = open_stream("output", self._device_spec, SPEAKER_RATE_HZ, self._open,
                             _open_failed)
        start_stream(stream, _open_failed)
        self._capacity = int(stream.write_available)
        self._silence = np.zeros(self._capacity, dtype=np.int16)
        self._burst = np.zeros(self._capacity, dtype=np.int16)
        self._prime, self._started = True, False
        self._stream = stream
        self.buffer.output_latency_s = self.depth.margin_ms / 1000.0
        self.last_callback_at = time.monotonic()
        self._thread = threading.Thread(target=self._play_loop, name="omnichat-speaker")
        self._thread.start()

    def device_lost(self, now: float) -> AudioDeviceError | None:
        """The error to end the session with when the device stopped taking audio."""
        return device_lost("output", self.last_callback_at, now) if self._stream else None

    def _open(self, sd: Any, index: int | None, rate: int) -> Any:
        self.device_rate_hz = rate
        self._feed = DeviceFeed(self.buffer, rate, self.block_ms)
        return sd.OutputStream(samplerate=rate, channels=1, dtype="int16",
                               latency=DEVICE_BUFFER_S, blocksize=self._feed.block_frames,
                               device=index)

    def _play_loop(self) -> None:
        """Thread ``omnichat-speaker``: top the device queue up to the depth wanted now."""
        self.priority = raise_current_thread()
        raise_sound_server_threads()  # opened with the stream: the plugin's mainloop exists
        try:
            while not self._stop.is_set():
                self._step()
        except Exception as exc:  # a device gone mid-write; device_lost() reports it
            self.error = exc

    def _step(self) -> None:
        stream, feed = self._stream, self._feed
        if stream is None or feed is None:
            return
        queued = self._capacity - int(stream.write_available)
        self._playing = feed.busy
        if not self._playing and self.depth.idle_ms <= 0:
            self._idle_step(stream, feed, queued)
            return
        want = self._frames(self.depth.margin_ms if self._playing else self.depth.idle_ms)
        short = feed.block_frames - (want - queued)  # frames to play before a block fits
        if short > 0:
            wait_s = min(_MAX_WAIT_S, (short + 1) / self.device_rate_hz)
            if self._playing:
                self._stop.wait(wait_s)
            else:  # a reply's first audio wakes the thread at once
                self.buffer.wait_for_data(wait_s)
            return
        if queued <= 0 and self._playing and not self._prime:  # a reply starts on an empty device
            self._start_reply(stream, feed, want)
            return
        if self._prime:  # a fresh stream starts on the full margin, whatever plays
            self._prime = False
            deep = want if self._started else max(want, self._frames(self.depth.margin_ms))
            self._started = True
            fill = min(deep - queued, self._silence.size)
            if fill > 0:
                at = stream.time + max(queued, 0) / self.device_rate_hz
                if stream.write(self._silence[:fill]):
                    self._prime = True
                # the taps see it too: the echo reference and the recording stay on the
                # device's timeline (a refill after a dry run delays what follows)
                self.buffer.tap_silence(fill * self.buffer.rate_hz // self.device_rate_hz, at)
            queued += max(fill, 0)
        block = feed.next_block(stream.time + queued / self.device_rate_hz)
        self._write(stream, block, self._playing)

    def _write(self, stream: Any, frames: np.ndarray, playing: bool) -> None:
        if stream.write(frames):  # the device ran dry since the previous write
            self._underflowed(self._wrote_playing)
            # refill before the next block; not after a drain between replies (expected)
            self._prime = self._wrote_playing or self.depth.idle_ms > 0
        self._wrote_playing = playing
        self.last_callback_at = now = time.monotonic()
        self.depth.tick(now)

    def _idle_step(self, stream: Any, feed: DeviceFeed, queued: int) -> None:
        """Nothing plays: let the device run empty, so a reply's first sample goes straight to
        the DAC. The buffer's taps still see a block of silence every block's time (the echo
        canceller's reference and the heard-audio clock stay continuous)."""
        now = time.monotonic()
        self.last_callback_at = now  # nothing to hand over is not a device gone
        self._wrote_playing = False
        due = self._idle_due
        if now < due:
            self.buffer.wait_for_data(min(_MAX_WAIT_S, due - now))
            return
        feed.next_block(stream.time + max(queued, 0) / self.device_rate_hz)
        block_s = feed.block_frames / self.device_rate_hz
        self._idle_due = max(due + block_s, now - block_s)
        self._prime = False  # the next reply starts with its own audio, not with silence
        self._started = True

    def _start_reply(self, stream: Any, feed: DeviceFeed, want: int) -> None:
        """A reply's audio arrived on an empty device: hand it up to the margin in one write
        (a stream restarted by one 5 ms block may run dry again at once, docs/audio.md). The
        service sends a reply's audio in packets of 100-300 ms, so the margin is there; a
        smaller first packet is topped up with silence ahead of it."""
        step = feed.block_frames
        src_block = self.buffer.rate_hz * self.block_ms // 1000
        ready = self.buffer.queued_samples // max(1, src_block) + feed.held_frames // step
        blocks = max(1, min(-(-want // step), ready, self._burst.size // step))
        lead = min(max(0, want - blocks * step), self._burst.size - blocks * step)
        burst = self._burst
        burst[:lead] = 0
        t0 = stream.time + lead / self.device_rate_hz
        for i in range(blocks):
            at = lead + i * step
            burst[at:at + step] = feed.next_block(t0 + i * step / self.device_rate_hz)
        self._write(stream, burst[:lead + blocks * step], True)

    def _frames(self, ms: float) -> int:
        return int(ms * self.device_rate_hz / 1000)

    def _underflowed(self, playing: bool) -> None:
        """``playing``: a reply's audio was queued when the device ran dry (audible)."""
        if playing:
            self.device_underflows += 1
        else:
            self.idle_underflows += 1
        self.depth.underflowed(time.monotonic(), playing=playing)
        self.buffer.output_latency_s = self.depth.margin_ms / 1000.0

    @property
    def latency_s(self) -> float:
        """What a reply's first sample waits behind: the idle queue (0 when closed)."""
        return self.depth.idle_ms / 1000.0 if self._stream is not None else 0.0

    def stream_time(self) -> float | None:
        """PortAudio's stream clock now (the clock of DAC/ADC times), None when closed."""
        stream = self._stream
        return float(stream.time) if stream is not None else None

    @property
    def active(self) -> bool:
        """False once the stream stopped by itself (device unplugged, sound server gone)."""
        return bool(self._stream is not None and self._stream.active and self.error is None)

    def close(self) -> None:
        """Stop after the audio already handed to the device has played; idempotent.

        Audio still queued in the buffer is not played: call ``buffer.wait_drained()`` first.
        """
        stream, thread, feed = self._stream, self._thread, self._feed
        if stream is None:
            return
        self._stop.set()
        if thread is not None:
            thread.join(timeout=5.0)
        self._stream = self._thread = None
        stuck = thread is not None and thread.is_alive()
        try:
            if stream.active and self.error is None and not stuck and feed is not None:
                held = feed.take_held()
                tail = np.zeros(held.size + self._frames(_TAIL_PAD_S * 1000), dtype=np.int16)
                tail[: held.size] = held
                stream.write(tail)  # about the pad's time: what was queued plays out first
            stream.stop()
        except Exception as exc:  # a device gone while idle: the thread had nothing to write
            self.error = self.error or exc
        finally:
            stream.close()
        if stuck:  # pragma: no cover - a bug, reported rather than hidden
            raise RuntimeError("omnichat-speaker did not stop within 5 s")

    def __enter__(self) -> Speaker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
