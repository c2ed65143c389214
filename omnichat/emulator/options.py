"""``EmulatorOptions``: the behaviour knobs every connection of one ``Emulator`` shares.

Tests compress time through these (idle timeout, session cap) and pick how the input
transcription is delivered (``TranscriptionMode``), so the client's late/never/delta paths can
be exercised. Plain data; the service's own configuration is the ``session`` dict (config.py).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# Transcripts: a list (one per committed audio item, in order) or a function of (pcm, rate_hz).
TranscriptSource = Sequence[str] | Callable[[bytes, int], "str | None"] | None

SEND_TIMEOUT_S = 5.0  # a client that takes no byte for this long is dropped
RECORD_MAX_EVENTS = 20_000  # per connection and direction, when recording
RECORD_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024  # base64 audio/image kept whole, per emulator


class TranscriptionMode(enum.Enum):
    """When ``conversation.item.input_audio_transcription.*`` reaches the client.

    The real service has been seen sending the transcription after the reply started, after
    it finished, as ``.delta`` refreshes before ``.completed``, as ``.failed``, or not at all
    (docs/protocol.md §4.6).
    """

    PROMPT = "prompt"  # .completed right after conversation.item.created (the common case)
    DELTAS = "deltas"  # .delta events (text + stash refreshes), then .completed
    AFTER_REPLY_STARTED = "after-reply-started"  # after the reply's first delta
    AFTER_REPLY_DONE = "after-reply-done"  # after the reply's response.done
    FAILED = "failed"  # ...input_audio_transcription.failed instead of .completed
    NEVER = "never"  # no transcription event at all

    @classmethod
    def parse(cls, text: str | TranscriptionMode) -> TranscriptionMode:
        if isinstance(text, TranscriptionMode):
            return text
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(mode.value for mode in cls)
            raise ValueError(f"unknown transcription mode {text!r}; use one of {choices}") from None


@dataclass
class EmulatorOptions:
    """Behaviour knobs shared by all connections (tests compress time through these)."""

    replies: list[str] = field(default_factory=list)
    transcripts: TranscriptSource = None
    transcription: TranscriptionMode = TranscriptionMode.PROMPT
    # None: no response.done after a cancel or barge-in (measured, S12); or a status string.
    cancel_response_done: str | None = None
    idle_timeout_s: float = 300.0
    idle_close_code: int = 1007
    max_session_s: float = 7200.0
    max_session_close_code: int = 1008
    image_limit_b64_bytes: int = 256 * 1024
    send_timeout_s: float = SEND_TIMEOUT_S
    # Recording (tests only): every frame in both directions, bounded (see recording.py).
    record: bool = False
    record_max_events: int = RECORD_MAX_EVENTS
    record_max_payload_bytes: int = RECORD_MAX_PAYLOAD_BYTES

    def idle_message(self) -> str:
        return ("Your session was closed because no response was generated for "
                f"{self.idle_timeout_s:g} seconds.")

    def max_session_message(self) -> str:
        return ("Your session was closed because it reached the maximum duration of "
                f"{self.max_session_s / 60:g} minutes.")
