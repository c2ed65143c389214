"""Run an echo mode over recorded or synthetic audio, with the timestamps a stream would give.

Used by the self-test (``doctor --echo`` records once, then scores every mode on the same
recording), the tests and the benchmark. ``simulate_room`` makes a synthetic echo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from omnichat.audio.resample import resample
from omnichat.echo import FRAME_SAMPLES, MIC_RATE_HZ
from omnichat.echo.core import EchoCore
from omnichat.echo.reference import SPEAKER_RATE_HZ, ReferenceTap

PLAY_BLOCK = SPEAKER_RATE_HZ // 100  # 10 ms speaker blocks


def feed_tap(tap: ReferenceTap, far24: np.ndarray, start_time: float = 0.0) -> None:
    """Hand ``far24`` to the tap as 10 ms blocks played from ``start_time`` on."""
    for i in range(0, far24.size, PLAY_BLOCK):
        tap.on_played(far24[i:i + PLAY_BLOCK], i, start_time + i / SPEAKER_RATE_HZ)


def run_mode(core: EchoCore, blocks: Sequence[tuple[np.ndarray, float]]) -> np.ndarray:
    """Process ``(mic block, ADC time)`` pairs; return the output stream (16 kHz int16)."""
    out = [core.process(block, adc) for block, adc in blocks]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def mic_blocks(mic16: np.ndarray, start_time: float = 0.0,
               block: int = 2 * FRAME_SAMPLES) -> list[tuple[np.ndarray, float]]:
    """Cut a 16 kHz signal into capture blocks stamped with their ADC times."""
    return [(mic16[i:i + block], start_time + i / MIC_RATE_HZ)
            for i in range(0, mic16.size, block)]


def simulate_room(far24: np.ndarray, delay_s: float, gain: float,
                  near16: np.ndarray | None = None, noise_rms: float = 20.0,
                  seed: int = 0) -> np.ndarray:
    """The microphone of a simple room: the far end ``delay_s`` later at ``gain`` with a short
    decaying tail, plus faint noise, plus ``near16`` (the user) if given."""
    rng = np.random.default_rng(seed)
    far16 = resample(far24, SPEAKER_RATE_HZ, MIC_RATE_HZ).astype(np.float64)
    d, tail = int(delay_s * MIC_RATE_HZ), int(0.04 * MIC_RATE_HZ)
    rir = np.zeros(d + tail)
    rir[d] = gain
    rir[d + 1:] = rng.normal(0, 1, tail - 1) * 0.1 * gain * np.exp(-np.arange(tail - 1) / 160)
    mic = np.convolve(far16, rir)[:far16.size] + rng.normal(0, noise_rms, far16.size)
    if near16 is not None:
        n = min(near16.size, mic.size)
        mic[:n] += near16[:n]
    return np.clip(np.rint(mic), -32768, 32767).astype(np.int16)


def energy_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-9))


def reduction_db(mic: np.ndarray, out: np.ndarray, start: int, end: int) -> float:
    """Echo reduction over samples ``[start, end)``: mic energy minus output energy, dB."""
    return energy_db(mic[start:end]) - energy_db(out[start:end])


Scorer = Callable[[np.ndarray], float]
