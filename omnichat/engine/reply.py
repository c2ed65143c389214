"""One assistant reply while it streams and plays, and the conversation-order turn queue.

``Reply`` is what ``ConversationState`` knows about the response in progress: where its audio
sits on the playback buffer's written clock, when its first sample was heard, whether a
barge-in cut it. ``TurnQueue`` hands finished turns out in the order they were said: a user
turn waits for its transcription (up to a limit) and the replies after it wait for it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from omnichat.engine.clocks import PlaybackView
from omnichat.engine.turns import Turn

# A user turn whose transcription has not arrived holds back the turns after it (so the
# user's line comes first) at most this long after the user stopped talking.
USER_TEXT_WAIT_S = 5.0


@dataclass(eq=False)
class Reply:
    """One assistant response while it streams and plays."""

    turn: Turn
    speech_ended_at: float | None  # monotonic time the user stopped the speech it answers
    audio_start: int | None = None  # written-clock index of its first sample
    audio_samples: int = 0
    first_output_at: float | None = None  # first delta of any kind (monotonic)
    first_heard_at: float | None = None  # its first sample reached the device
    done: bool = False  # the server finished it, or we cancelled it
    cut: int | None = None  # char index where a barge-in cut it
    latency_posted: bool = False

    @property
    def response_id(self) -> str:
        return self.turn.response_id or ""

    @property
    def audio_end(self) -> int:
        return (self.audio_start or 0) + self.audio_samples

    def is_talking(self, playback: PlaybackView | None) -> bool:
        """The model is still generating this reply, or its audio has not all played."""
        if not self.done:
            return True
        return (playback is not None and self.audio_start is not None
                and playback.stream_position < self.audio_end)

    def heard_fraction(self, playback: PlaybackView | None) -> float:
        """How much of its audio reached the device (text-only: all of it was shown)."""
        if playback is None:
            return 1.0
        if self.audio_start is None or self.audio_samples == 0:
            return 0.0
        latency = int(playback.output_latency_s * playback.rate_hz)
        heard = playback.heard_samples(self.audio_start, self.audio_samples, latency)
        return heard / self.audio_samples


@dataclass(eq=False)
class _Entry:
    turn: Turn
    final: bool
    created_at: float
    preview: str = ""  # user turns: the latest transcription delta


class TurnQueue:
    """Turns in conversation order; a prefix of final ones is released at a time."""

    def __init__(self) -> None:
        self._entries: deque[_Entry] = deque()

    def add(self, turn: Turn, now: float, *, final: bool = False,
            spoken_since: float | None = None) -> None:
        """Append ``turn``; a user turn whose speech began at ``spoken_since`` goes before the
        unfinished replies created after that (a model that answers while the user talks)."""
        entry = _Entry(turn, final, now)
        index = len(self._entries)
        while (spoken_since is not None and index
               and self._entries[index - 1].turn.role == "assistant"
               and not self._entries[index - 1].final
               and self._entries[index - 1].created_at >= spoken_since):
            index -= 1
        self._entries.insert(index, entry)

    def user_turn(self, item_id: str | None) -> Turn | None:
        """The user turn of ``item_id`` that still waits for its text."""
        entry = self._user_entry(item_id)
        return entry.turn if entry is not None else None

    def _user_entry(self, item_id: str | None) -> _Entry | None:
        for entry in self._entries:
            if entry.turn.role == "user" and entry.turn.item_id == item_id and item_id:
                return entry
        return None

    def preview(self, item_id: str | None, text: str) -> None:
        entry = self._user_entry(item_id)
        if entry is not None:
            entry.preview = text

    def fill(self, item_id: str | None, text: str | None, status: str | None = None) -> bool:
        """Give a waiting user turn its text (None: keep the preview) and make it final."""
        entry = self._user_entry(item_id)
        if entry is None or entry.final:
            return False
        entry.turn.text = text if text is not None else entry.preview
        entry.turn.status = status
        entry.final = True
        return True

    def finish(self, turn: Turn) -> None:
        for entry in self._entries:
            if entry.turn is turn:
                entry.final = True

    def give_up(self, now: float | None) -> None:
        """Stop waiting for transcriptions: all of them (``now`` None, at close), or those
        that hold back a final turn and are older than ``USER_TEXT_WAIT_S``."""
        behind_final = False
        for entry in reversed(self._entries):
            waiting = not entry.final and entry.turn.role == "user"
            if waiting and (now is None or (behind_final
                                            and now - entry.created_at >= USER_TEXT_WAIT_S)):
                entry.turn.text = entry.preview
                entry.turn.status = "untranscribed"
                entry.final = True
            behind_final = behind_final or entry.final
            if now is None:
                entry.final = True

    def release(self) -> list[Turn]:
        """The final turns at the head of the queue, removed."""
        out: list[Turn] = []
        while self._entries and self._entries[0].final:
            out.append(self._entries.popleft().turn)
        return out
