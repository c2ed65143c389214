"""Sample-rate conversion with soxr, int16 in and out.

``StreamResampler`` keeps filter state between chunks so block-by-block conversion has no
seams; the audio callbacks use it when a device refuses the wire rate.
"""

from __future__ import annotations

import numpy as np
import soxr


class StreamResampler:
    """Convert a mono int16 stream chunk by chunk; ``last=True`` flushes the filter tail."""

    def __init__(self, in_rate_hz: int, out_rate_hz: int):
        self.in_rate_hz = int(in_rate_hz)
        self.out_rate_hz = int(out_rate_hz)
        self._passthrough = self.in_rate_hz == self.out_rate_hz
        self._stream = None if self._passthrough else soxr.ResampleStream(
            self.in_rate_hz, self.out_rate_hz, 1, dtype="int16", quality="HQ")

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(samples, dtype=np.int16).reshape(-1)
        if self._passthrough:
            return x
        return self._stream.resample_chunk(x, last=last)


def resample(samples: np.ndarray, in_rate_hz: int, out_rate_hz: int) -> np.ndarray:
    """One-shot conversion of a whole mono int16 signal."""
    x = np.ascontiguousarray(samples, dtype=np.int16).reshape(-1)
    if in_rate_hz == out_rate_hz or x.size == 0:
        return x.copy()
    return soxr.resample(x, in_rate_hz, out_rate_hz, quality="HQ")
