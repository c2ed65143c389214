"""Sample-rate conversion with soxr, int16 in and out.

``StreamResampler`` keeps filter state between chunks so block-by-block conversion has no
seams; the audio callbacks use it when a device refuses the wire rate.
"""

from __future__ import annotations

import numpy as np
import soxr


class StreamResampler:
    """Convert a mono int16 stream chunk by chunk; ``last=True`` flushes the filter tail.

    soxr's HQ stream emits in bursts (nothing for 3-4 10 ms chunks, then 30-40 ms at once),
    so callers that need a fixed count per callback keep a FIFO of at least one burst.
    """

    def __init__(self, in_rate_hz: int, out_rate_hz: int):
        self.in_rate_hz = int(in_rate_hz)
        self.out_rate_hz = int(out_rate_hz)
        self._passthrough = self.in_rate_hz == self.out_rate_hz
        # float32 inside: soxr's int16 output adds dither, so silence would not stay silent
        self._stream = None if self._passthrough else soxr.ResampleStream(
            self.in_rate_hz, self.out_rate_hz, 1, dtype="float32", quality="HQ")

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(samples, dtype=np.int16).reshape(-1)
        if self._stream is None:  # passthrough
            return x
        return _to_int16(self._stream.resample_chunk(x.astype(np.float32) / 32768.0, last=last))

    def clear(self) -> None:
        """Forget buffered input (after a flush: what was queued must not come out later)."""
        if self._stream is not None:
            self._stream.clear()


def resample(samples: np.ndarray, in_rate_hz: int, out_rate_hz: int) -> np.ndarray:
    """One-shot conversion of a whole mono int16 signal."""
    x: np.ndarray = np.ascontiguousarray(samples, dtype=np.int16).reshape(-1)
    if in_rate_hz == out_rate_hz or x.size == 0:
        same: np.ndarray = x.copy()
        return same
    y: np.ndarray = soxr.resample(x.astype(np.float32) / 32768.0, in_rate_hz, out_rate_hz,
                                  quality="HQ")
    return _to_int16(y)


def _to_int16(y: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.clip(np.rint(y * 32768.0), -32768, 32767).astype(np.int16)
    return out
