"""``Transcription``: when the user's input-audio transcription reaches the client.

Pure (no I/O, no clock): each method returns the events to send now. The connection calls
``committed`` when a user audio item is created and ``reply_started``/``reply_done`` from the
response that answers it; ``TranscriptionMode`` (options.py) picks the timing. Guarded by the
connection's state lock. Held-back transcripts are bounded: past ``MAX_PENDING`` the oldest is
sent at once.
"""

from __future__ import annotations

from omnichat import protocol
from omnichat.emulator.options import TranscriptionMode
from omnichat.protocol.events import Event

MAX_PENDING = 16
MAX_DELTAS = 8  # refreshes per transcript in DELTAS mode
FAILED_MESSAGE = "Input audio transcription failed."


def delta_events(item_id: str, transcript: str) -> list[Event]:
    """Growing previews: ``text`` is the confirmed prefix, ``stash`` the revisable tail."""
    words = transcript.split(" ")
    step = max(1, -(-len(words) // MAX_DELTAS))
    events = []
    for end in range(step, len(words) + step, step):
        confirmed = " ".join(words[:max(0, end - step)])
        tail = " ".join(words[max(0, end - step):end])
        events.append(protocol.transcription_delta(
            item_id, confirmed, (" " if confirmed else "") + tail))
    return events


class Transcription:
    def __init__(self, mode: TranscriptionMode) -> None:
        self.mode = mode
        self._pending: list[Event] = []  # held back until the reply starts/ends

    def committed(self, item_id: str, transcript: str) -> list[Event]:
        completed = protocol.transcription_completed(item_id, transcript)
        if self.mode is TranscriptionMode.NEVER:
            return []
        if self.mode is TranscriptionMode.PROMPT:
            return [completed]
        if self.mode is TranscriptionMode.DELTAS:
            return [*delta_events(item_id, transcript), completed]
        if self.mode is TranscriptionMode.FAILED:
            return [protocol.transcription_failed(item_id, FAILED_MESSAGE,
                                                  code="transcription_failed")]
        self._pending.append(completed)
        overflow, self._pending = self._pending[:-MAX_PENDING], self._pending[-MAX_PENDING:]
        return overflow

    def reply_started(self) -> list[Event]:
        return self._release(TranscriptionMode.AFTER_REPLY_STARTED)

    def reply_done(self) -> list[Event]:
        # A reply that ended before its first delta (cancelled) releases both kinds.
        return self._release(TranscriptionMode.AFTER_REPLY_STARTED,
                             TranscriptionMode.AFTER_REPLY_DONE)

    def _release(self, *modes: TranscriptionMode) -> list[Event]:
        if self.mode not in modes:
            return []
        pending, self._pending = self._pending, []
        return pending
