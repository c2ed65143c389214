"""soxr resampling: exact lengths, streaming equals one-shot, round trips keep the waveform."""

from __future__ import annotations

import numpy as np
import pytest

from omnichat.audio.resample import StreamResampler, resample


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.size, b.size)
    a, b = a[:n].astype(float), b[:n].astype(float)
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def speechlike(rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1250 * t) * np.sin(3 * t)
    return (x * 32767).astype(np.int16)


@pytest.mark.parametrize(("src", "dst"), [(16000, 24000), (24000, 16000), (48000, 16000),
                                          (44100, 24000), (24000, 48000)])
def test_one_shot_length_and_shape(src, dst):
    y = resample(speechlike(src), src, dst)
    assert y.dtype == np.int16 and y.size == dst
    assert ncc(resample(y, dst, src), speechlike(src)) > 0.999


def test_streaming_in_blocks_matches_one_shot():
    x = speechlike(16000)
    r = StreamResampler(16000, 24000)
    parts = [r.process(x[i:i + 320]) for i in range(0, x.size, 320)]
    parts.append(r.process(np.zeros(0, np.int16), last=True))
    y = np.concatenate(parts)
    assert y.size == 24000
    assert np.max(np.abs(y.astype(int) - resample(x, 16000, 24000).astype(int))) <= 2


def test_same_rate_is_a_passthrough():
    x = speechlike(16000, 0.1)
    assert np.array_equal(StreamResampler(16000, 16000).process(x.reshape(-1, 1)), x)
    assert np.array_equal(resample(x, 16000, 16000), x)
