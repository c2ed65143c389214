"""The native acoustic echo canceller, behind a guard that only ever passes it 10 ms frames.

WebRTC AEC3 comes from the ``livekit`` wheel (``pip install 'omnichat[aec]'``). Its Rust core
aborts the whole process (SIGABRT, no Python exception) on a frame that is not a multiple of
10 ms, so ``WebRtcCanceller.process`` checks both frames first and raises ``ValueError``; the
re-chunking in ``EchoCore`` means a correct caller never hits that.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Protocol

import numpy as np

from omnichat.echo import FRAME_SAMPLES, MIC_RATE_HZ

INSTALL_HINT = "install the echo canceller with: pip install 'omnichat[aec]'"


class Canceller(Protocol):
    """Removes the echo of ``far`` from ``near``; both exactly one 10 ms int16 frame."""

    name: str

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray: ...


def check_frame(frame: np.ndarray, what: str) -> np.ndarray:
    """Return ``frame`` as contiguous int16 of exactly ``FRAME_SAMPLES``, else ValueError."""
    if frame.ndim != 1 or frame.shape[0] != FRAME_SAMPLES:
        raise ValueError(f"{what} frame has {frame.shape} samples; the canceller takes exactly "
                         f"{FRAME_SAMPLES} (10 ms at {MIC_RATE_HZ} Hz)")
    return np.ascontiguousarray(frame, dtype=np.int16)


def canceller_available() -> bool:
    """True when a canceller can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("livekit.rtc") is not None
    except ModuleNotFoundError:
        return False


class WebRtcCanceller:
    """WebRTC AEC3 (through livekit's ``AudioProcessingModule``) with high-pass filter on."""

    name = "webrtc-aec3"

    def __init__(self, stream_delay_ms: int = 0):
        from livekit import rtc  # 30 MB native library: imported only when aec is used

        self._rtc: Any = rtc
        self._apm = rtc.AudioProcessingModule(echo_cancellation=True, noise_suppression=False,
                                              high_pass_filter=True, auto_gain_control=False)
        self.stream_delay_ms = int(stream_delay_ms)

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        near = check_frame(near, "microphone")
        far = check_frame(far, "reference")
        rtc = self._rtc
        self._apm.process_reverse_stream(
            rtc.AudioFrame(far.tobytes(), MIC_RATE_HZ, 1, FRAME_SAMPLES))
        self._apm.set_stream_delay_ms(self.stream_delay_ms)
        frame = rtc.AudioFrame(near.tobytes(), MIC_RATE_HZ, 1, FRAME_SAMPLES)
        self._apm.process_stream(frame)
        out: np.ndarray = np.frombuffer(bytes(frame.data), dtype=np.int16).copy()
        return out


def make_canceller(stream_delay_ms: int = 0) -> Canceller | None:
    """The best installed canceller, or ``None`` when none is installed."""
    if not canceller_available():
        return None
    try:
        return WebRtcCanceller(stream_delay_ms)
    except ImportError:
        return None
