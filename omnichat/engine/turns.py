"""The conversation as data: turns, what the user heard of each reply, and the session config.

``Conversation`` is what survives a socket: the session settings sent with ``session.update``
and the finished turns. A reconnect (later) replays it onto a new socket; the transcript
writes each turn as it is finished.

The user's turn is created when the server ends it (``speech_stopped`` or ``committed``) and
its text is filled in when (and if) the transcription arrives; ``status`` then says
"transcription_failed" or "untranscribed" when it never did.

Heard versus generated: a reply's audio occupies ``[audio_start, audio_start + audio_samples)``
of the playback buffer's written clock; ``PlaybackBuffer.heard_samples`` says how much of that
range reached the device before a barge-in flushed the rest. The heard *fraction* is mapped
onto the reply's text proportionally by character count — the transcript and the audio stream
in step (docs/protocol.md §4.9), so characters are a fair stand-in for speaking time — and the cut
is moved back to the previous word boundary, so "heard" never claims half a word.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Turn:
    """One finished (or finishing) utterance of the user or the assistant."""

    role: str  # "user" | "assistant"
    text: str = ""
    started_at: datetime = field(default_factory=now_utc)
    item_id: str | None = None
    response_id: str | None = None
    interrupted: bool = False
    heard: str | None = None  # interrupted assistant turns only
    unheard: str | None = None
    latency_ms: float | None = None  # end of user speech -> first reply audio heard
    usage: dict[str, Any] | None = None
    status: str | None = None  # response.done status, "cancelled"; user: "untranscribed"...
    duration_ms: float | None = None  # user speech: speech_started -> speech_stopped
    tool_calls: list[str] = field(default_factory=list)  # functions the reply called

    @property
    def tool_only(self) -> bool:
        """A reply that said nothing and called tools: the calls are its content."""
        return self.role == "assistant" and bool(self.tool_calls) and not self.text.strip()

    def to_record(self) -> dict[str, Any]:
        """The JSONL object of this turn (only the fields that are known)."""
        record: dict[str, Any] = {"role": self.role, "text": self.text,
                                  "timestamp": self.started_at.isoformat(timespec="milliseconds")}
        if self.role == "assistant":
            record["interrupted"] = self.interrupted
            if self.interrupted:
                record["heard"] = self.heard or ""
                record["unheard"] = self.unheard or ""
        for name in ("item_id", "response_id", "status", "usage"):
            if getattr(self, name):
                record[name] = getattr(self, name)
        if self.latency_ms is not None:
            record["latency_ms"] = round(self.latency_ms, 1)
        if self.duration_ms is not None:
            record["duration_ms"] = round(self.duration_ms, 1)
        if self.tool_calls:
            record["tool_calls"] = list(self.tool_calls)
        return record


def cut_index(text: str, fraction: float) -> int:
    """Where the heard part of ``text`` ends when ``fraction`` of its audio was played."""
    if fraction >= 1.0 or not text:
        return len(text)
    k = max(0, int(len(text) * max(0.0, fraction)))
    if k < len(text) and not text[k].isspace():
        space = text.rfind(" ", 0, k + 1)
        k = space if space > 0 else 0
    return k


def split_heard(text: str, fraction: float) -> tuple[str, str]:
    k = cut_index(text, fraction)
    return text[:k].rstrip(), text[k:].lstrip()


@dataclass
class Conversation:
    """Session settings plus the finished turns; thread-safe appends (receiver and main)."""

    session: dict[str, Any]
    turns: list[Turn] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def instructions(self) -> str | None:
        value = self.session.get("instructions")
        return value if isinstance(value, str) else None

    @property
    def voice(self) -> str | None:
        value = self.session.get("voice")
        return value if isinstance(value, str) else None

    @property
    def text_only(self) -> bool:
        return list(self.session.get("modalities") or []) == ["text"]

    def add(self, turn: Turn) -> None:
        with self._lock:
            self.turns.append(turn)

    def history(self) -> list[Turn]:
        with self._lock:
            return list(self.turns)
