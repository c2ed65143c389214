"""An energy voice-activity detector that runs on audio time, not wall-clock time.

All positions are derived from the number of samples received, so a test that pushes a clip
faster than real time gets exactly the same events as a microphone would.

Semantics (documented in the README section of the emulator):

* Audio is cut into 20 ms frames; a frame's level is its RMS in dBFS.
* ``threshold`` in [-1, 1] maps linearly to a start level: ``-45 + 15 * threshold`` dBFS
  (-1 -> -60 dBFS, most sensitive; 0.5 -> -37.5 dBFS; 1 -> -30 dBFS).
* Speech starts when at least 100 ms of the last 160 ms were above the start level, so a
  click (< 100 ms) never starts a turn. ``audio_start_ms`` is the start of the first loud
  frame of that window.
* While speaking, frames above ``start level - 6 dB`` count as speech (hysteresis keeps soft
  word endings inside the turn). Speech stops after ``silence_duration_ms`` of quieter frames;
  ``audio_end_ms`` is where that silence began.
* ``semantic`` (semantic_vad) waits 1.5x the silence after an utterance shorter than one
  second (likely unfinished) and 0.75x after a longer one, clamped to [200, 6000] ms.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from omnichat.audio.level import rms_dbfs

FRAME_MS = 20
START_WINDOW_FRAMES = 8  # 160 ms
START_MIN_LOUD_FRAMES = 5  # 100 ms: the minimum speech duration
HYSTERESIS_DB = 6.0
SHORT_UTTERANCE_MS = 1000


def start_level_dbfs(threshold: float) -> float:
    """The frame level (dBFS) above which a frame counts as speech."""
    return -45.0 + 15.0 * max(-1.0, min(1.0, float(threshold)))



@dataclass(frozen=True)
class VadEvent:
    kind: str  # "start" or "stop"
    ms: int  # audio_start_ms or audio_end_ms, in session audio time
    speech_ms: int = 0  # for "stop": how long the utterance was


class EnergyVad:
    """Feed PCM bytes; get start/stop events positioned in session audio time."""

    def __init__(self, *, threshold: float, silence_ms: int, rate_hz: int = 16_000,
                 semantic: bool = False, start_ms: int = 0) -> None:
        self.level_dbfs = start_level_dbfs(threshold)
        self.silence_ms = int(silence_ms)
        self.semantic = semantic
        self.rate_hz = int(rate_hz)
        self._frame_bytes = self.rate_hz * FRAME_MS // 1000 * 2
        self._pending = bytearray()
        self._frame_index = start_ms // FRAME_MS  # next frame's index in the session
        self._window: deque[tuple[int, bool]] = deque(maxlen=START_WINDOW_FRAMES)
        self.speaking = False
        self._onset_ms = 0
        self._silence_frames = 0

    def feed(self, pcm: bytes) -> list[VadEvent]:
        self._pending += pcm
        events: list[VadEvent] = []
        usable = len(self._pending) - len(self._pending) % self._frame_bytes
        if usable == 0:
            return events
        samples = np.frombuffer(bytes(self._pending[:usable]), dtype="<i2")
        del self._pending[:usable]
        for frame in samples.reshape(-1, self._frame_bytes // 2):
            event = self._step(rms_dbfs(frame))
            if event is not None:
                events.append(event)
        return events

    def _step(self, level: float) -> VadEvent | None:
        index = self._frame_index
        self._frame_index += 1
        if not self.speaking:
            self._window.append((index, level >= self.level_dbfs))
            loud = [i for i, is_loud in self._window if is_loud]
            if len(loud) < START_MIN_LOUD_FRAMES:
                return None
            self.speaking, self._silence_frames = True, 0
            self._onset_ms = loud[0] * FRAME_MS
            self._window.clear()
            return VadEvent("start", self._onset_ms)
        if level >= self.level_dbfs - HYSTERESIS_DB:
            self._silence_frames = 0
            return None
        self._silence_frames += 1
        end_ms = (index + 1 - self._silence_frames) * FRAME_MS
        if self._silence_frames * FRAME_MS < self._required_silence_ms(end_ms - self._onset_ms):
            return None
        self.speaking = False
        return VadEvent("stop", end_ms, speech_ms=end_ms - self._onset_ms)

    def _required_silence_ms(self, speech_ms: int) -> int:
        if not self.semantic:
            return self.silence_ms
        factor = 1.5 if speech_ms < SHORT_UTTERANCE_MS else 0.75
        return max(200, min(6000, int(self.silence_ms * factor)))
