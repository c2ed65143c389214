"""``--record``: the microphone as sent (left) and what was played (right) on one clock.

A digital loopback stands in for a room: the "microphone" hears exactly what the speaker
played, delivered one block later as a real capture would be. So in a correct recording the
two channels hold the same sound at the same place; cross-correlation must find them within
one block of each other, before and after a barge-in cuts the reply.
"""

from __future__ import annotations

import contextlib
import threading
import wave

import numpy as np
import pytest
from test_engine_support import make_engine

from omnichat.audio.playback import PlaybackBuffer, PlayedBlock
from omnichat.audio.speaker import FileSpeaker
from omnichat.engine import commands as cmd
from omnichat.session.inputs import _recording_tee

pytestmark = pytest.mark.timeout(60)
RATE_HZ = 24_000
BLOCK_SAMPLES = RATE_HZ * 20 // 1000  # one 20 ms block of the recording
STORY = " ".join(["Once upon a time there was a terminal that could talk."] * 8)


class Loopback:
    """The playback tap -> (one block later) the microphone tee, at 16 kHz."""

    def __init__(self, tee) -> None:
        self._tee = tee
        self._held: bytes | None = None
        self.played_s = 0.0
        self.enough = threading.Event()  # a second of the reply was played
        self.quiet_s = 0.0
        self.quiet = threading.Event()  # half a second of silence after the reply

    def on_played(self, block: PlayedBlock) -> None:
        if self._held is not None:
            self._tee(self._held)
        # 24 kHz -> 16 kHz by keeping 2 of every 3 samples: crude, but the test compares
        # the recording's two channels, which the recorder brings back to one rate.
        pcm = np.empty(block.samples.size * 2 // 3, np.int16)
        pcm[0::2] = block.samples[0::3][: pcm[0::2].size]
        pcm[1::2] = block.samples[1::3][: pcm[1::2].size]
        self._held = pcm.tobytes()
        if block.real:
            self.played_s += block.real / RATE_HZ
            if self.played_s >= 1.0:
                self.enough.set()
        elif self.enough.is_set():
            self.quiet_s += block.samples.size / RATE_HZ
            if self.quiet_s >= 0.5:
                self.quiet.set()


def _channels(path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path), "rb") as handle:
        frames = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    return frames[0::2].astype(np.float64), frames[1::2].astype(np.float64)


def _lag(left: np.ndarray, right: np.ndarray) -> int:
    """Samples by which ``left`` trails ``right`` (positive: later)."""
    n = 1 << int(np.ceil(np.log2(left.size + right.size)))
    spectrum = np.fft.rfft(left, n) * np.conj(np.fft.rfft(right, n))
    corr = np.fft.irfft(spectrum, n)
    index = int(np.argmax(corr))
    return index if index < n // 2 else index - n


def test_recorded_sides_are_aligned_within_one_block_across_a_barge_in(make_emulator, tmp_path):
    emu = make_emulator(replies=[STORY], speed="realtime")
    playback = PlaybackBuffer()
    engine = make_engine(emu, playback=playback)
    engine.conversation.session["turn_detection"] = None
    record = tmp_path / "rec.wav"
    with contextlib.ExitStack() as stack:
        stack.enter_context(FileSpeaker(playback, tmp_path / "out.wav", pace=1.0))
        stack.enter_context(engine)
        loop = Loopback(_recording_tee(stack, engine, playback, record))
        playback.add_tap(loop.on_played)
        engine.command(cmd.SendText("tell me a story"))
        assert loop.enough.wait(20)
        engine.command(cmd.Interrupt())  # barge-in by key: flushed mid-reply
        emu.session.wait_for("response.cancel", direction="received", timeout=10)
        assert loop.quiet.wait(10)
    left, right = _channels(record)
    assert right.std() > 100 and left.std() > 100
    lag = _lag(left, right)
    assert abs(lag) <= BLOCK_SAMPLES, f"sides {lag / RATE_HZ * 1000:.1f} ms apart"
    loud = np.flatnonzero(np.abs(right) > 300)
    cut = int(loud[-1])  # where the reply was cut: the right side is silent after it
    assert right[cut + BLOCK_SAMPLES * 3:].std() < 50 and cut < right.size - RATE_HZ // 4
    print(f"\nrecord alignment: {lag / RATE_HZ * 1000:.1f} ms; reply cut at "
          f"{cut / RATE_HZ:.2f} s of {right.size / RATE_HZ:.2f} s")
