"""The facts ``ConversationState`` reads from the audio side, as values and an interface.

``MicClock`` maps the server's input-audio clock (``audio_end_ms`` of ``speech_stopped``) onto
our monotonic clock: how many samples were sent on this connection and when the last one was
captured. The microphone delivers in real time, so the sample at ``audio_end_ms`` was captured
``sent - audio_end`` before the last one. The connection's sender replaces it (a frozen value)
after every batch; the engine passes the current one with each server event.

``PlaybackView`` is the part of ``PlaybackBuffer`` the state reads (its sample clocks); tests
pass a real buffer driven by hand, or any object with these members.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from omnichat.audio import MIC_RATE_HZ


@dataclass(frozen=True)
class MicClock:
    """Samples sent on one connection, and the capture time (monotonic) of the last one."""

    sent_samples: int = 0
    captured_at: float = 0.0

    def advanced(self, samples: int, captured_at: float) -> MicClock:
        return MicClock(self.sent_samples + samples, captured_at)

    def speech_end_time(self, audio_end_ms: int | None, now: float) -> float:
        """When the user stopped talking: the capture time of the sample at ``audio_end_ms``
        of the audio sent on this connection; ``now`` if the server did not say."""
        if audio_end_ms is None or self.sent_samples == 0:
            return now
        behind_s = max(0.0, self.sent_samples / MIC_RATE_HZ - audio_end_ms / 1000.0)
        return min(now, self.captured_at - behind_s)


class PlaybackView(Protocol):
    """The playback buffer's sample clocks (written clock = stream positions)."""

    rate_hz: int
    output_latency_s: float

    @property
    def written_samples(self) -> int: ...

    @property
    def queued_samples(self) -> int: ...

    @property
    def stream_position(self) -> int: ...

    def heard_samples(self, start: int, length: int, latency_samples: int = 0) -> int: ...
