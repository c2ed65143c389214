"""Signal level of int16 audio in dBFS: the microphone meter, the emulator's VAD and the tests
all measure loudness the same way."""

from __future__ import annotations

import math

import numpy as np

SILENCE_DBFS = -120.0  # the level of an all-zero or empty block


def rms_dbfs(block: np.ndarray) -> float:
    """RMS level of int16 samples relative to full scale; ``SILENCE_DBFS`` for silence.

    Safe in an audio callback: one float64 copy of the block, no other allocation.
    """
    if block.size == 0:
        return SILENCE_DBFS
    samples = block.reshape(-1).astype(np.float64)
    rms = math.sqrt(float(np.dot(samples, samples)) / samples.size)
    return 20.0 * math.log10(rms / 32768.0) if rms > 0 else SILENCE_DBFS
