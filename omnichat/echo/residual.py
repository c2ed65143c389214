"""``ResidualCheck``: is what the canceller let through still the model's own voice?

WebRTC AEC3 removes 30-40 dB once converged, but whenever the echo's delay moves (a speaker
underrun; on the rig, the sound server's loopback re-adjusting by 10-30 ms under load) it needs
about a second to re-converge, and meanwhile the echo passes nearly whole: long enough for the
service's voice detector to hear the model and cut its answer.

Residual echo is a filtered copy of what the speaker played; the user's voice is not. So for
each 10 ms frame the check correlates the last ``WINDOW_S`` of canceller output with the played
reference over lags of +-``LAG_S`` around the measured delay. A high normalised correlation
means the output is echo: the frame is replaced by silence (held for ``HOLD_FRAMES``). During
double talk the user's voice dominates the output and the correlation stays low, so it passes.
Pure numpy, called by ``EchoCore`` on the echo thread.
"""

from __future__ import annotations

import numpy as np

from omnichat.echo import FRAME_SAMPLES, MIC_RATE_HZ

WINDOW_S = 0.12
LAG_S = 0.04  # searched either side of the measured delay
UNSURE_MAX_S = 0.25  # before the delay is measured: lags 0 to this
ECHO_NCC = 0.4  # above this the output is mostly echo
HOLD_FRAMES = 3
FLOOR_RMS = 30.0  # quieter output (-61 dBFS) is left alone: nothing a detector would hear


class ResidualCheck:
    """Keeps the recent canceller output; ``process(out, reference)`` gates one frame."""

    def __init__(self) -> None:
        self.window = int(WINDOW_S * MIC_RATE_HZ)
        self._out = np.zeros(self.window, dtype=np.float64)
        self._hold = 0
        self.suppressed = 0  # frames replaced by silence
        self.last_ncc = 0.0

    @staticmethod
    def lags(delay_s: float, sure: bool) -> tuple[float, float]:
        """The echo delays (seconds) to search: around ``delay_s``, or all plausible ones."""
        return (max(0.0, delay_s - LAG_S), delay_s + LAG_S) if sure else (0.0, UNSURE_MAX_S)

    def push(self, out: np.ndarray) -> None:
        """Remember an output frame without checking it (the model is silent)."""
        self._out[:-FRAME_SAMPLES] = self._out[FRAME_SAMPLES:]
        self._out[-FRAME_SAMPLES:] = out
        self._hold = 0

    def process(self, out: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """``reference``: what was played from ``hi`` before the output window's start to
        ``lo`` before its end (``lags``), at 16 kHz."""
        self._out[:-FRAME_SAMPLES] = self._out[FRAME_SAMPLES:]
        self._out[-FRAME_SAMPLES:] = out
        frame_rms = float(np.sqrt(np.mean(out.astype(np.float64) ** 2)))
        if frame_rms < FLOOR_RMS:
            self.last_ncc = 0.0
            return out
        self.last_ncc = ncc = self._ncc(reference.astype(np.float64))
        if ncc >= ECHO_NCC:
            self._hold = HOLD_FRAMES
        if self._hold > 0:
            self._hold -= 1
            self.suppressed += 1
            return np.zeros_like(out)
        return out

    def _ncc(self, ref: np.ndarray) -> float:
        """Best |normalised correlation| of the output window with ``ref`` over all lags."""
        o = self._out
        o_energy = float(np.dot(o, o))
        if o_energy <= 0.0 or not ref.any():
            return 0.0
        n = 1 << int(np.ceil(np.log2(ref.size + o.size)))
        corr = np.fft.irfft(np.fft.rfft(ref, n) * np.conj(np.fft.rfft(o, n)), n)
        lags = ref.size - o.size + 1
        cum = np.concatenate([[0.0], np.cumsum(ref ** 2)])
        ref_energy = cum[o.size:o.size + lags] - cum[:lags]
        valid = ref_energy > 1e-9
        if not valid.any():
            return 0.0
        values = np.abs(corr[:lags][valid]) / np.sqrt(o_energy * ref_energy[valid])
        return float(values.max())
