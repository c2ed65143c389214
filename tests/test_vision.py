"""Camera and video frames: at most max_fps, and a still scene sends nothing after the first."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from omnichat.errors import UsageError
from omnichat.media.images import prepare_frame
from omnichat.media.vision import FramePicker, difference, open_source, thumbnail


@functools.lru_cache(maxsize=16)
def _scene(seed: int, brightness: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 200, (12, 16, 3)).astype(float)
    frame = np.kron(blocks, np.ones((10, 10, 1))) * brightness
    return frame.clip(0, 255).astype(np.uint8)


_NOISE = [np.random.default_rng(i).integers(-3, 4, (120, 160, 3), dtype=np.int16)
          for i in range(7)]


def _synthetic_video(fps: float, seconds: float):
    """A still scene for 3 s, a cut to another, a slow pan, then a lights flicker."""
    for i in range(int(fps * seconds)):
        t = i / fps
        if t < 3:
            frame = _scene(1)
        elif t < 5:
            frame = _scene(2)
        elif t < 8:
            frame = np.roll(_scene(2), int((t - 5) * 15), axis=1)
        else:  # the pan stopped; the lights flicker
            frame = np.roll(_scene(2, brightness=1.1 if i % 2 else 0.9), 45, axis=1)
        noise = _NOISE[i % len(_NOISE)]
        yield t, (frame.astype(int) + noise).clip(0, 255).astype(np.uint8)


def test_the_rate_is_capped_and_still_scenes_are_skipped() -> None:
    picker = FramePicker(max_fps=1.0)
    sent = [t for t, frame in _synthetic_video(fps=30, seconds=10) if picker.offer(t, frame)]
    assert sent[0] == 0.0
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(sent, sent[1:], strict=False))
    assert not [t for t in sent if 0 < t < 3]  # the still scene: nothing after the first
    assert [t for t in sent if 3 <= t < 4.1]  # the cut is sent within a second
    assert len([t for t in sent if 5 <= t < 8]) >= 2  # the pan keeps changing
    # Once the pan stopped, one frame catches up with where it stopped; after that the
    # flicker of the lights is not a change.
    assert len([t for t in sent if t >= 8]) <= 1 and not [t for t in sent if t >= 9.3]
    assert picker.skipped_still > 0 and picker.skipped_rate > 100


def test_a_lower_rate_is_honoured() -> None:
    picker = FramePicker(max_fps=0.25)
    sent = [t for t, frame in _synthetic_video(fps=10, seconds=10) if picker.offer(t, frame)]
    assert all(b - a >= 4.0 - 1e-9 for a, b in zip(sent, sent[1:], strict=False))


def test_difference_is_brightness_neutral_and_sees_a_cut() -> None:
    a, b = thumbnail(_scene(1)), thumbnail(_scene(1, brightness=1.2))
    assert difference(a, b) < 0.03
    assert difference(a, thumbnail(_scene(2))) > 0.1


def test_a_frame_becomes_a_jpeg_within_limits(tmp_path: Path) -> None:
    prepared = prepare_frame(np.kron(_scene(3), np.ones((12, 12, 1), np.uint8)),
                             source=tmp_path / "cam")
    assert max(prepared.width, prepared.height) <= 1280 and prepared.jpeg[:2] == b"\xff\xd8"


def test_a_missing_video_or_missing_opencv_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        open_source(video=tmp_path / "nothing.mp4")
    message = str(caught.value)
    assert "nothing.mp4" in message or "pip install 'omnichat[camera]'" in message
