"""Reply audio for the emulator: real speech from espeak-ng, or a speech-like stand-in.

``synthesize`` returns 16-bit mono PCM at the requested rate (24 kHz by default, what the
service sends). espeak-ng writes a WAV at 22.05 kHz on stdout; the audio layer's WAV reader
resamples it. Results are cached per (text, voice, rate) because replies repeat in tests and
reply scripts; the cache is bounded in bytes (``CACHE_BYTES``, least recently used dropped), as
the default replies vary ("I heard about 2.3 seconds ...") and would otherwise grow for hours.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import zlib
from collections import OrderedDict

import numpy as np

from omnichat.audio.resample import resample
from omnichat.audio.wav import WavError, wav_bytes_mono

OUTPUT_RATE_HZ = 24_000
ESPEAK_TIMEOUT_S = 20.0
# espeak-ng voice variants; a model voice name picks one, so voices sound different.
_VARIANTS = ("f3", "m3", "f2", "m1", "f4", "m2", "f1", "m4", "f5", "m7")


def espeak_path() -> str | None:
    return shutil.which("espeak-ng")


def espeak_voice(voice: str | None) -> str:
    """The espeak-ng voice (language + variant) standing in for a model voice name."""
    variant = _VARIANTS[zlib.crc32((voice or "").encode("utf-8")) % len(_VARIANTS)]
    return f"en-us+{variant}"


CACHE_BYTES = 4 * 1024 * 1024
_cache: OrderedDict[tuple[str, str | None, int], bytes] = OrderedDict()
_cache_lock = threading.Lock()  # response threads of all connections share the cache


def synthesize(text: str, voice: str | None = None, rate_hz: int = OUTPUT_RATE_HZ) -> bytes:
    """PCM s16le mono at ``rate_hz`` saying ``text`` (cached)."""
    key = (text, voice, rate_hz)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    pcm = _espeak(text, voice, rate_hz) if espeak_path() else None  # no lock: may take 1 s
    if pcm is None:
        synthetic = np.frombuffer(synthetic_speech(text, OUTPUT_RATE_HZ), dtype="<i2")
        pcm = resample(synthetic, OUTPUT_RATE_HZ, rate_hz).astype("<i2").tobytes()
    with _cache_lock:
        _cache[key] = pcm
        while sum(map(len, _cache.values())) > CACHE_BYTES and len(_cache) > 1:
            _cache.popitem(last=False)
    return pcm


def _espeak(text: str, voice: str | None, rate_hz: int) -> bytes | None:
    try:
        done = subprocess.run(
            [espeak_path() or "espeak-ng", "--stdout", "-v", espeak_voice(voice), "-s", "175",
             "--", text or "."],
            capture_output=True, timeout=ESPEAK_TIMEOUT_S, check=True)
        # espeak streams its WAV, so its chunk sizes are placeholders; the reader clamps them
        return wav_bytes_mono(done.stdout, rate_hz).astype("<i2").tobytes()
    except (OSError, subprocess.SubprocessError, WavError):
        return None


def synthetic_speech(text: str, rate_hz: int) -> bytes:
    """A clearly synthetic but speech-like signal: voiced harmonics in ~4 Hz syllables."""
    seconds = max(0.5, 0.065 * len(text))
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    pitch = 140.0 + 20.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate_hz
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0.0, None) ** 0.5
    signal = 0.25 * voiced * syllables
    return (signal * 32767.0).astype("<i2").tobytes()
