"""``--camera [INDEX]`` / ``--video FILE``: frames for the model while the session runs.

``FrameSender`` is the thread ``omnichat-frames``: it reads ``FrameSource.frames()`` (blocks
in OpenCV's read), asks ``FramePicker`` whether a frame is worth sending (at most
``max_fps``, and only when the scene changed), turns it into a JPEG (``prepare_frame``) and
hands it to the engine as ``SendImage`` (the engine holds images until audio was sent). A
video file is paced on its own timeline (``pace`` = 1: real time), so a 10 s clip takes
10 s, not as long as decoding. ``close()`` sets its stop Event and joins it; a camera read
returns within a frame period, so the join is bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from omnichat.engine import commands as cmd
from omnichat.media.images import prepare_frame
from omnichat.media.vision import DEFAULT_MAX_FPS, FramePicker

JOIN_TIMEOUT_S = 3.0


class Frames(Protocol):
    name: str

    def frames(self) -> Iterator[tuple[float, np.ndarray]]: ...

    def close(self) -> None: ...


class FrameSender:
    """Thread ``omnichat-frames``; see the module docstring."""

    def __init__(self, source: Frames, send: Callable[[cmd.Command], None], *,
                 max_fps: float = DEFAULT_MAX_FPS, pace: float = 1.0) -> None:
        self._source = source
        self._send = send
        self.picker = FramePicker(max_fps=max_fps)
        self._pace = pace
        self._stop = threading.Event()
        self.finished = threading.Event()  # the source ran out (end of a video file)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._frame_loop, name="omnichat-frames")

    def __enter__(self) -> FrameSender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(JOIN_TIMEOUT_S)
        self._source.close()

    def _frame_loop(self) -> None:
        started = time.monotonic()
        try:
            for t, frame in self._source.frames():
                if self._pace > 0 and self._stop.wait(
                        max(0.0, started + t / self._pace - time.monotonic())):
                    return
                if self._stop.is_set():
                    return
                if self.picker.offer(t, frame):
                    self._send_frame(frame)
            self.finished.set()
        except BaseException as exc:  # reported by the main loop
            self.error = exc

    def _send_frame(self, frame: np.ndarray) -> None:
        image = prepare_frame(frame, source=Path(self._source.name))
        self._send(cmd.SendImage(image.jpeg))
