"""The local barge-in detector: the user has been speaking long enough to stop the model.

``BargeInDetector.feed(frame)`` takes the echo-processed microphone (16 kHz int16, any block
size) and returns True once, at the frame where speech has lasted ``min_speech_ms`` (gaps
shorter than one window are bridged). A cough or a click shorter than that never fires. After
firing it re-arms only after ``rearm_ms`` without speech. Pure apart from the VAD model.

Sensitivity sets the speech-probability threshold and scales the minimum duration:
``low`` needs clearer and longer speech, ``high`` reacts to quieter and shorter speech,
``off`` never fires.
"""

from __future__ import annotations

import numpy as np

from omnichat.echo import MIC_RATE_HZ
from omnichat.echo.vad import Vad, default_vad

SENSITIVITIES = {"low": (0.8, 1.4), "medium": (0.6, 1.0), "high": (0.4, 0.7)}
DEFAULT_MIN_SPEECH_MS = 250
REARM_MS = 300


class BargeInDetector:
    """Fires when ``min_speech_ms`` of speech (x the sensitivity's factor) has been heard."""

    def __init__(self, sensitivity: str = "medium", min_speech_ms: int = DEFAULT_MIN_SPEECH_MS,
                 vad: Vad | None = None):
        if sensitivity not in (*SENSITIVITIES, "off"):
            raise ValueError(f"barge_in must be low, medium, high or off, not {sensitivity!r}")
        self.sensitivity = sensitivity
        self.enabled = sensitivity != "off"
        threshold, factor = SENSITIVITIES.get(sensitivity, (1.0, 1.0))
        self.threshold = threshold
        self.min_speech_ms = int(min_speech_ms * factor)
        self.vad = vad if vad is not None or not self.enabled else default_vad()
        self._pending = np.zeros(0, dtype=np.int16)
        self._speech_ms = 0.0
        self._quiet_ms = 0.0
        self._fired = False
        self.fired_count = 0
        self.last_probability = 0.0

    def reset(self) -> None:
        """Forget the current run (e.g. when the model stops speaking)."""
        self._pending = np.zeros(0, dtype=np.int16)
        self._speech_ms = self._quiet_ms = 0.0
        self._fired = False

    def feed(self, frame: np.ndarray) -> bool:
        """Score ``frame``; True exactly when barge-in should happen now."""
        if not self.enabled or self.vad is None:
            return False
        data = np.concatenate([self._pending, np.asarray(frame, dtype=np.int16).reshape(-1)])
        size = self.vad.window_samples
        fired = False
        whole = data.size // size * size
        for i in range(0, whole, size):
            fired = self._window(data[i:i + size], 1000.0 * size / MIC_RATE_HZ) or fired
        self._pending = data[whole:].copy()
        return fired

    def _window(self, window: np.ndarray, window_ms: float) -> bool:
        self.last_probability = p = self.vad.probability(window) if self.vad else 0.0
        if p >= self.threshold:
            self._speech_ms += window_ms
            self._quiet_ms = 0.0
        else:
            self._quiet_ms += window_ms
            if self._quiet_ms > window_ms:  # one quiet window is bridged, two end the run
                self._speech_ms = 0.0
            if self._quiet_ms >= REARM_MS:
                self._fired = False
        if not self._fired and self._speech_ms >= self.min_speech_ms:
            self._fired = True
            self.fired_count += 1
            return True
        return False
