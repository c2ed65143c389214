"""Onset and silence detection on int16 recordings, by short-window energy envelopes.

The rig's devices are digital null sinks: silence is exact zeros (or a few LSB after a fade),
speech is tens of dB above. A window is *loud* when its RMS is above ``THRESHOLD_DBFS``.

* ``first_loud``: the first loud window at or after a sample; the onset is refined to the
  first sample in that window whose magnitude is above the threshold amplitude, so the figure
  has one-sample resolution and a fixed bias (the few ms a speech onset takes to rise 40 dB
  below full scale), the same for every client.
* ``silence_from``: the start of the first run of quiet windows lasting ``min_quiet_ms``.
  Speech has pauses between words; ``min_quiet_ms`` (default 250 ms) is longer than espeak's
  word gaps, so a pause is not taken for the end of playback.
* ``last_loud``: the end of the last loud window before a sample (the end of speech).
"""

from __future__ import annotations

import numpy as np

THRESHOLD_DBFS = -40.0  # ~328 of 32768: far above the rig's floor (0), far below speech
WINDOW_MS = 5


def _amplitude(threshold_dbfs: float) -> float:
    return 32768.0 * 10 ** (threshold_dbfs / 20.0)


def loud_windows(x: np.ndarray, rate_hz: int, threshold_dbfs: float = THRESHOLD_DBFS,
                 window_ms: int = WINDOW_MS) -> np.ndarray:
    """Boolean per window of ``window_ms``: RMS above the threshold."""
    size = max(1, rate_hz * window_ms // 1000)
    n = x.size // size
    frames = x[: n * size].astype(np.float64).reshape(n, size)
    rms = np.sqrt(np.mean(frames * frames, axis=1)) if n else np.zeros(0)
    return rms > _amplitude(threshold_dbfs)


def first_loud(x: np.ndarray, rate_hz: int, start: int = 0, end: int | None = None,
               threshold_dbfs: float = THRESHOLD_DBFS) -> int | None:
    """Sample index of the first onset in ``[start, end)``, or None."""
    size = max(1, rate_hz * WINDOW_MS // 1000)
    end = x.size if end is None else min(end, x.size)
    start = max(0, start)
    loud = np.flatnonzero(loud_windows(x[start:end], rate_hz, threshold_dbfs))
    if loud.size == 0:
        return None
    w0 = start + int(loud[0]) * size
    # refine: the first sample over the amplitude, looking one window back and in the window
    lo = max(start, w0 - size)
    over = np.flatnonzero(np.abs(x[lo:w0 + size].astype(np.int32)) > _amplitude(threshold_dbfs))
    return lo + int(over[0]) if over.size else w0


def silence_from(x: np.ndarray, rate_hz: int, start: int, min_quiet_ms: int = 250,
                 threshold_dbfs: float = THRESHOLD_DBFS) -> int | None:
    """Start of the first quiet run of at least ``min_quiet_ms`` at or after ``start``."""
    size = max(1, rate_hz * WINDOW_MS // 1000)
    start = max(0, start)
    loud = loud_windows(x[start:], rate_hz, threshold_dbfs)
    need = max(1, min_quiet_ms // WINDOW_MS)
    run = 0
    for i, is_loud in enumerate(loud):
        run = 0 if is_loud else run + 1
        if run >= need:
            return _last_over(x, start + (i - need + 1) * size, size, threshold_dbfs)
    return None


def _last_over(x: np.ndarray, quiet_start: int, size: int, threshold_dbfs: float) -> int:
    """Refine a quiet run's start: just after the last over-threshold sample before it."""
    lo = max(0, quiet_start - size)
    over = np.flatnonzero(np.abs(x[lo:quiet_start + size].astype(np.int32))
                          > _amplitude(threshold_dbfs))
    return lo + int(over[-1]) + 1 if over.size else quiet_start


def last_loud(x: np.ndarray, rate_hz: int, start: int, end: int,
              threshold_dbfs: float = THRESHOLD_DBFS) -> int | None:
    """Sample index just after the last loud window's last loud sample in ``[start, end)``."""
    size = max(1, rate_hz * WINDOW_MS // 1000)
    start, end = max(0, start), min(end, x.size)
    loud = np.flatnonzero(loud_windows(x[start:end], rate_hz, threshold_dbfs))
    if loud.size == 0:
        return None
    w_end = start + (int(loud[-1]) + 1) * size
    return _last_over(x, w_end, size, threshold_dbfs) if w_end < x.size else w_end
