"""Push-to-talk from a file: a recording -> the utterances in it, split on silence.

``omnichat ptt --input talk.wav`` without a terminal has nobody to hold a key, so the file's own
pauses mark the turns: an utterance is a run of 20 ms frames above ``threshold_dbfs`` that
lasts at least ``min_speech_ms``; a pause of ``min_pause_ms`` or more ends it. Each utterance
keeps ``padding_ms`` of audio either side (a word's soft start and end). A recording that is
too short or silent gives the reason, the same one the keyboard's push-to-talk shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnichat.audio.level import rms_dbfs

FRAME_MS = 20
THRESHOLD_DBFS = -40.0
MIN_SPEECH_MS = 300
MIN_PAUSE_MS = 700
PADDING_MS = 200


@dataclass(frozen=True)
class Utterance:
    start_ms: int
    end_ms: int
    pcm: np.ndarray  # int16 at the input rate

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def why_not_sent(pcm: np.ndarray, rate_hz: int, *, threshold_dbfs: float = THRESHOLD_DBFS,
                 min_speech_ms: int = MIN_SPEECH_MS, hold: bool | None = None) -> str | None:
    """Why a push-to-talk recording should not be sent (too short, silent), or None. The
    advice follows how the turn was taken: ``hold`` True (Space held), False (Space pressed
    to start and again to send), None (a file)."""
    duration_ms = 1000 * pcm.size // rate_hz
    if duration_ms < min_speech_ms:
        how = {True: "hold Space for as long as you speak",
               False: "press Space, speak, then press Space again to send",
               None: f"a turn needs at least {min_speech_ms} ms of speech"}[hold]
        return f"too short ({duration_ms} ms; {how})"
    loud_ms = FRAME_MS * int(np.count_nonzero(_loud_frames(pcm, rate_hz, threshold_dbfs)))
    if loud_ms < min_speech_ms:
        return (f"nothing heard (no {min_speech_ms} ms above {threshold_dbfs:.0f} dBFS; watch "
                "the level meter as you speak, speak closer to the microphone, or pick "
                "another with --input-device: `omnichat devices` lists them)")
    return None


def split_utterances(pcm: np.ndarray, rate_hz: int, *, threshold_dbfs: float = THRESHOLD_DBFS,
                     min_speech_ms: int = MIN_SPEECH_MS, min_pause_ms: int = MIN_PAUSE_MS,
                     padding_ms: int = PADDING_MS) -> list[Utterance]:
    """The utterances of ``pcm`` (int16 mono), in order."""
    loud = _loud_frames(pcm, rate_hz, threshold_dbfs)
    frame = rate_hz * FRAME_MS // 1000
    pause_frames = max(1, min_pause_ms // FRAME_MS)
    runs: list[list[int]] = []
    quiet = pause_frames
    for index, is_loud in enumerate(loud):
        if is_loud:
            if quiet >= pause_frames or not runs:
                runs.append([index, index + 1])
            runs[-1][1] = index + 1
            quiet = 0
        else:
            quiet += 1
    pad = padding_ms * rate_hz // 1000
    utterances = []
    for first, last in runs:
        if (last - first) * FRAME_MS < min_speech_ms:
            continue  # a click or a cough
        start, end = max(0, first * frame - pad), min(pcm.size, last * frame + pad)
        utterances.append(Utterance(1000 * start // rate_hz, 1000 * end // rate_hz,
                                    pcm[start:end]))
    return utterances


def _loud_frames(pcm: np.ndarray, rate_hz: int, threshold_dbfs: float) -> np.ndarray:
    frame = rate_hz * FRAME_MS // 1000
    count = pcm.size // frame
    return np.array([rms_dbfs(pcm[i * frame:(i + 1) * frame]) > threshold_dbfs
                     for i in range(count)], dtype=bool)
