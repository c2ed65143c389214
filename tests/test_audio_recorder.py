"""``--record``: the microphone left, what was played right, aligned on one clock."""

from __future__ import annotations

import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from omnichat.audio.recorder import RATE_HZ, Recorder
from omnichat.errors import UsageError


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _chirp(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * (200 + 400 * t) * t)).astype(np.int16)


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, RATE_HZ)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return frames[0::2].astype(float), frames[1::2].astype(float)


def _lag_s(left: np.ndarray, right: np.ndarray) -> float:
    n = min(left.size, right.size)
    spectrum = np.fft.rfft(right[:n], 2 * n) * np.conj(np.fft.rfft(left[:n], 2 * n))
    corr = np.fft.irfft(spectrum)
    lag = int(np.argmax(corr))
    return (lag if lag < n else lag - 2 * n) / RATE_HZ


def _run(path: Path, *, echo_delay_s: float, gap: tuple[int, int] | None = None) -> Recorder:
    """Mic blocks of a chirp every 20 ms; the speaker plays the same chirp ``echo_delay_s``
    later, the way an echo of the user would come back (a known offset to find)."""
    clock = _Clock()
    mic = _chirp(3.0, 16_000)
    spk = np.concatenate([np.zeros(int(echo_delay_s * RATE_HZ), np.int16), _chirp(3.0, RATE_HZ)])
    with Recorder(path, clock=clock) as recorder:
        for k in range(150):
            clock.now = 100.0 + (k + 1) * 0.02
            if gap is None or not gap[0] <= k < gap[1]:
                recorder.on_mic(mic[k * 320:(k + 1) * 320].tobytes())
            block = spk[k * 480:(k + 1) * 480]
            block = np.concatenate([block, np.zeros(480 - block.size, np.int16)])
            clock.now = 100.0 + k * 0.02
            recorder.on_played(SimpleNamespace(samples=block))
    return recorder


def test_both_sides_are_aligned_within_one_block(tmp_path: Path) -> None:
    path = tmp_path / "conversation.wav"
    recorder = _run(path, echo_delay_s=0.25)
    left, right = _read(path)
    assert abs(_lag_s(left, right) - 0.25) <= 0.02  # one 20 ms block
    assert recorder.dropped_blocks == 0 and recorder.seconds >= 2.9


def test_a_gap_in_capture_keeps_the_timeline(tmp_path: Path) -> None:
    path = tmp_path / "gap.wav"
    _run(path, echo_delay_s=0.1, gap=(40, 60))  # 0.4 s of microphone never delivered
    left, right = _read(path)
    assert np.abs(left[int(0.85 * RATE_HZ):int(1.15 * RATE_HZ)]).max() == 0  # silence there
    tail = slice(int(1.5 * RATE_HZ), int(2.9 * RATE_HZ))
    assert abs(_lag_s(left[tail], right[tail]) - 0.1) <= 0.02


def test_an_unwritable_path_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        Recorder(tmp_path / "no" / "such" / "dir.wav")
    assert "--record" in str(caught.value)


def test_the_recording_is_private_and_no_stub_is_left_when_nothing_was_recorded(
        tmp_path: Path) -> None:
    path = tmp_path / "private.wav"
    _run(path, echo_delay_s=0.0)
    assert path.stat().st_mode & 0o777 == 0o600
    empty = tmp_path / "empty.wav"
    Recorder(empty).start().close()
    assert not empty.exists()
