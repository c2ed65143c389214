"""Signals for the echo tests: espeak-ng speech (skip without it) and synthetic noise."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from omnichat.audio.wav import read_wav_mono

FAR_TEXT = ("The weather today is sunny with a light breeze. Later this evening we expect "
            "some rain moving in from the west, so bring an umbrella if you go out.")
NEAR_TEXT = "Hello, can you hear me? I am talking at the same time."


def espeak(tmp: Path, text: str, voice: str, rate_hz: int) -> np.ndarray:
    """``text`` spoken by espeak-ng at ``rate_hz``; skips where espeak-ng is missing."""
    return read_wav_mono(espeak_wav(tmp, text, voice), rate_hz)


def espeak_wav(tmp: Path, text: str, voice: str) -> Path:
    """A WAV file (22.05 kHz) of ``text``; skips where espeak-ng is missing."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    path = tmp / f"{voice.replace('+', '_')}-{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(path), text], check=True,
                   timeout=30, capture_output=True)
    return path


def ncc_best(out: np.ndarray, clean: np.ndarray, max_lag: int = 400) -> float:
    """Best normalised correlation of ``clean`` with ``out`` over lags 0..max_lag samples."""
    c = clean[:clean.size - max_lag].astype(np.float64)
    o = out[:c.size + max_lag].astype(np.float64)
    size = 1 << int(np.ceil(np.log2(o.size + c.size)))
    corr = np.fft.irfft(np.fft.rfft(o, size) * np.conj(np.fft.rfft(c, size)), size)[:max_lag + 1]
    energy = np.cumsum(np.concatenate([[0.0], o ** 2]))
    seg_energy = energy[c.size:c.size + max_lag + 1] - energy[:max_lag + 1]
    best = float(np.max(corr / (np.sqrt(seg_energy * np.dot(c, c)) + 1e-9)))
    return best


def noise_bursts(rate_hz: int, total_s: float, every_s: float = 1.0, burst_ms: int = 120,
                 level: float = 6000.0, seed: int = 1) -> np.ndarray:
    """Cough-like bursts: ``burst_ms`` of decaying noise every ``every_s``, plus clicks."""
    rng = np.random.default_rng(seed)
    x = np.zeros(int(total_s * rate_hz))
    n = int(burst_ms * rate_hz / 1000)
    for start in range(int(0.3 * rate_hz), x.size - n, int(every_s * rate_hz)):
        x[start:start + n] += rng.normal(0, level, n) * np.exp(-np.arange(n) / (n / 3))
        click = start + int(0.5 * every_s * rate_hz)
        if click + 40 < x.size:
            x[click:click + 40] += level * 3 * np.hanning(40)
    return np.clip(x, -32768, 32767).astype(np.int16)
