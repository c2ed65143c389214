"""Fixtures that run the local emulator on a free loopback port.

``emulator``: a running ``Emulator`` at fast speed, closed (threads joined) after the test.
``make_emulator(**kwargs)``: a factory for other settings (api_key, replies, transcripts,
idle_timeout_s, speed, cancel_response_done, ...); every emulator it made is closed after
the test, in reverse order. ``speech_wav(text)``: a 16 kHz mono PCM clip of ``text`` spoken by
espeak-ng (the test is skipped where espeak-ng is missing).
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soxr

from omnichat.emulator import Emulator
from omnichat.emulator.speech import parse_wav

__all__ = ["emulator", "make_emulator", "speech_pcm"]


@pytest.fixture
def make_emulator():
    made: list[Emulator] = []

    def factory(**kwargs) -> Emulator:
        kwargs.setdefault("speed", "fast")
        emu = Emulator(**kwargs)
        made.append(emu)
        return emu.start()

    try:
        yield factory
    finally:
        for emu in reversed(made):
            emu.close()


@pytest.fixture
def emulator(make_emulator):
    return make_emulator()


@pytest.fixture(scope="session")
def speech_pcm():
    """``speech_pcm(text, rate_hz=16000) -> bytes``: espeak-ng speech as s16le mono PCM."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    cache: dict[tuple[str, int], bytes] = {}

    def synth(text: str, rate_hz: int = 16_000) -> bytes:
        if (text, rate_hz) not in cache:
            wav = subprocess.run(["espeak-ng", "--stdout", "-v", "en-us", "--", text],
                                 capture_output=True, check=True, timeout=30).stdout
            pcm, source_rate = parse_wav(wav)
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
            out = soxr.resample(samples, source_rate, rate_hz)
            cache[(text, rate_hz)] = (np.clip(out, -1, 1) * 32767).astype("<i2").tobytes()
        return cache[(text, rate_hz)]

    return synth
