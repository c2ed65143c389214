"""Camera and video for the model: at most ``max_fps`` frames, and only when the scene changed.

``FramePicker`` is pure: ``offer(t, frame)`` says whether a frame at time ``t`` (seconds) should
be sent. It sends the first frame, never two within ``1 / max_fps`` seconds, and skips a frame
whose *perceptual difference* from the last frame sent is below ``threshold``: both are reduced
to a 32x32 grey thumbnail, and the difference is the mean absolute difference of the two
thumbnails after removing their mean brightness (so a flicker of the lights or the camera's
auto-exposure does not count as a change), on a 0..1 scale. A still scene costs no tokens.

``open_source`` opens ``--camera INDEX`` or ``--video FILE`` through OpenCV, an optional extra
(``pip install 'omnichat[camera]'``); without it the user is told exactly that.
``FrameSource.frames()`` yields ``(t, rgb_frame)`` with ``t`` in the video's own time (a file)
or since the camera opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnichat.errors import UsageError

THUMB = 32
DEFAULT_MAX_FPS = 1.0  # the service's recommendation: about one image per second
DEFAULT_THRESHOLD = 0.04


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A 32x32 grey float thumbnail in 0..1, by block averaging (no resampler needed)."""
    grey = frame.astype(np.float32).mean(axis=2) if frame.ndim == 3 else frame.astype(np.float32)
    h, w = grey.shape
    rows = np.linspace(0, h, THUMB + 1).astype(int)
    cols = np.linspace(0, w, THUMB + 1).astype(int)
    summed = np.add.reduceat(np.add.reduceat(grey, rows[:-1], axis=0), cols[:-1], axis=1)
    counts = np.outer(np.diff(rows), np.diff(cols)).clip(min=1)
    thumb: np.ndarray = (summed / counts) / 255.0
    return thumb


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Perceptual difference of two thumbnails, brightness-neutral, 0 (same) .. 1."""
    return float(np.abs((a - a.mean()) - (b - b.mean())).mean())


@dataclass
class FramePicker:
    """Decides which frames are worth sending: rate-capped and scene-change gated."""

    max_fps: float = DEFAULT_MAX_FPS
    threshold: float = DEFAULT_THRESHOLD
    sent: int = 0
    skipped_still: int = 0
    skipped_rate: int = 0
    _last_t: float | None = field(default=None, repr=False)
    _last_thumb: np.ndarray | None = field(default=None, repr=False)

    def offer(self, t: float, frame: np.ndarray) -> bool:
        if self._last_t is not None and t - self._last_t < 1.0 / self.max_fps:
            self.skipped_rate += 1
            return False
        thumb = thumbnail(frame)
        if self._last_thumb is not None and difference(thumb, self._last_thumb) < self.threshold:
            self.skipped_still += 1
            return False
        self._last_t, self._last_thumb = t, thumb
        self.sent += 1
        return True


class FrameSource:
    """Frames from OpenCV's VideoCapture: a camera index or a video file."""

    def __init__(self, capture: Any, name: str, is_file: bool) -> None:
        self._capture = capture
        self.name = name
        self._is_file = is_file

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        import time

        import cv2

        started = time.monotonic()
        while True:
            ok, bgr = self._capture.read()
            if not ok:
                return
            if self._is_file:
                t = float(self._capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            else:
                t = time.monotonic() - started
            yield t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._capture.release()


def open_source(camera: int | None = None, video: Path | None = None) -> FrameSource:
    """Open ``--camera INDEX`` or ``--video FILE``; one line if OpenCV or the source is missing."""
    try:
        import cv2
    except ImportError:
        flag = "--camera" if camera is not None else "--video"
        raise UsageError(f"{flag} needs OpenCV: pip install 'omnichat[camera]'") from None
    if video is not None:
        if not video.is_file():
            raise UsageError(f"--video '{video}': no such file; give a video file")
        capture = cv2.VideoCapture(str(video))
        name, is_file = str(video), True
    else:
        capture = cv2.VideoCapture(int(camera or 0))
        name, is_file = f"camera {camera or 0}", False
    if not capture.isOpened():
        capture.release()
        what = f"--video '{video}'" if video is not None else f"--camera {camera or 0}"
        raise UsageError(f"{what}: cannot open it; check the file or the camera index")
    return FrameSource(capture, name, is_file)
