"""Fallbacks without a canceller: ``gate`` and ``half-duplex``, one 10 ms frame at a time.

``gate``: while the model speaks, a frame passes only when it is clearly louder than the echo
expected from what was just played (reference level x measured echo gain x margin); otherwise
silence goes up. Once open it stays open for ``hold_ms`` so words are not chopped.

``half-duplex``: while the model speaks (and for the echo tail after it), silence goes up.

The echo gain is learned while the model speaks: the 90th percentile of mic level / reference
level over the last five seconds. The reference level is taken over a window that covers the
echo tail, so an echo frame never exceeds gain x level by much; the user's voice only pushes
the estimate up, which closes the gate harder (it fails safe: no self-interruption).
"""

from __future__ import annotations

import collections

import numpy as np

from omnichat.echo import FRAME_MS

SPEAKING_RMS = 30.0  # reference RMS (int16) above which the model counts as speaking (-61 dBFS)
MIN_GAIN, MAX_GAIN = 0.01, 8.0


def frame_rms(frame: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(frame, dtype=np.float64) ** 2)))


class EchoGainTracker:
    """Learns echo amplitude / reference amplitude from frames where the model speaks."""

    def __init__(self, initial_gain: float = 1.0, window_frames: int = 500):
        self.gain = float(initial_gain)
        self._ratios: collections.deque[float] = collections.deque(maxlen=window_frames)
        self._seen = 0

    def update(self, mic_rms: float, ref_rms: float) -> float:
        if ref_rms > SPEAKING_RMS:
            self._ratios.append(mic_rms / ref_rms)
            self._seen += 1
            # 200 ms of evidence before trusting it; re-estimated every 100 ms (CPU)
            if len(self._ratios) >= 20 and self._seen % 10 == 0:
                low = float(np.percentile(np.fromiter(self._ratios, float), 90))
                self.gain = min(max(low, MIN_GAIN), MAX_GAIN)
        return self.gain


class EchoGate:
    """``gate`` mode: pass frames clearly louder than the expected echo."""

    def __init__(self, margin_db: float = 6.0, hold_ms: int = 150, initial_gain: float = 1.0):
        self.margin = 10 ** (margin_db / 20)
        self.hold_frames = max(0, hold_ms // FRAME_MS)
        self.tracker = EchoGainTracker(initial_gain)
        self._open_for = 0

    def process(self, near: np.ndarray, ref_rms: float, speaking: bool = True) -> np.ndarray:
        """``ref_rms``: reference level over the echo window; ``speaking``: the model spoke
        within the echo tail (else nothing is gated)."""
        return self.process_residual(near, near, ref_rms, speaking)

    def process_residual(self, near: np.ndarray, out: np.ndarray, ref_rms: float,
                         speaking: bool = True) -> np.ndarray:
        """Gate ``out`` (``near`` after a canceller, or ``near`` itself) against the echo
        expected in ``near``: the gain is learned from the raw microphone."""
        mic_rms = frame_rms(near)
        if not speaking:
            self._open_for = 0
            return out
        expected = self.tracker.update(mic_rms, ref_rms) * max(ref_rms, SPEAKING_RMS)
        if frame_rms(out) > expected * self.margin:
            self._open_for = self.hold_frames
            return out
        if self._open_for > 0:
            self._open_for -= 1
            return out
        return np.zeros_like(out)


class HalfDuplex:
    """``half-duplex`` mode: silence while the model speaks."""

    def process(self, near: np.ndarray, ref_rms: float) -> np.ndarray:
        return np.zeros_like(near) if ref_rms > SPEAKING_RMS else near
