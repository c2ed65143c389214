"""What the engine tells the view: small immutable values put on the ``updates`` queue.

``ConversationState`` decides them (as ``ViewUpdate`` actions); the engine puts them on its
``updates`` queue; only the main thread consumes them, so only the main thread touches the
console. Server text in them is raw: the view cleans it (``clean_text``) right before printing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from omnichat.engine.turns import Turn


class Status(str, Enum):
    """What the conversation is doing, as the status bar shows it (the value is the label)."""

    CONNECTING = "connecting"
    LISTENING = "listening"
    HEARING = "hearing you"
    THINKING = "thinking"
    SPEAKING = "speaking"
    INTERRUPTED = "interrupted"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


# The members under their old module-level names (the view keys its styles by them).
CONNECTING = Status.CONNECTING
LISTENING = Status.LISTENING
HEARING = Status.HEARING
THINKING = Status.THINKING
SPEAKING = Status.SPEAKING
INTERRUPTED = Status.INTERRUPTED
RECONNECTING = Status.RECONNECTING
CLOSED = Status.CLOSED


class Update:
    """Base class of everything on the updates queue."""


@dataclass(frozen=True)
class StatusChanged(Update):
    status: Status


@dataclass(frozen=True)
class UserPreview(Update):
    """A partial transcription of what the user is saying (full refresh each time)."""

    item_id: str | None
    text: str


@dataclass(frozen=True)
class TurnFinished(Update):
    """A turn is final (and written to the transcript)."""

    turn: Turn


@dataclass(frozen=True)
class AssistantStarted(Update):
    response_id: str


@dataclass(frozen=True)
class AssistantDelta(Update):
    response_id: str
    text: str


@dataclass(frozen=True)
class Interrupted(Update):
    """Barge-in: playback of ``response_id`` was cut after ``heard_chars`` characters."""

    response_id: str
    heard_chars: int
    flushed_ms: float


@dataclass(frozen=True)
class LatencyMeasured(Update):
    response_id: str
    latency_ms: float


@dataclass(frozen=True)
class UsageReported(Update):
    response_id: str
    usage: dict[str, Any]


@dataclass(frozen=True)
class Notice(Update):
    """Something the user should read (a recoverable server error, a warning)."""

    text: str
    level: str = "warning"


@dataclass(frozen=True)
class ToolProgress(Notice):
    """A function call the model made started (``status`` None) or ended (``ok``,
    ``timeout``, ...; ``output`` is what went back to the model). The views show it as the
    reply's content, ``qwen ⚙ NAME → OUTPUT``; ``text`` is the same as one plain line."""

    name: str = ""
    call_id: str = ""
    response_id: str = ""
    arguments: str = ""
    status: str | None = None
    output: str = ""


@dataclass(frozen=True)
class EchoModeChosen(Update):
    """The echo handling in effect (docs/echo.md), for the header: ``mode`` aec | gate |
    half-duplex | off, ``reason`` why (e.g. "echo canceller", "headset: ..."), ``barge_in``
    the local barge-in sensitivity (low | medium | high | off)."""

    mode: str
    reason: str
    barge_in: str


@dataclass(frozen=True)
class Failed(Update):
    """A thread failed; the engine is stopping. ``Engine.close()`` re-raises the error."""

    error: BaseException


# ---- the keyboard session (push-to-talk, typing): put by omnichat.session.keys -----------------


@dataclass(frozen=True)
class EditorChanged(Update):
    """The typed-message line under the conversation: its text, the cursor (an index into
    ``text``) and whether the editor is open (closed: draw nothing)."""

    text: str
    cursor: int
    open: bool


@dataclass(frozen=True)
class PushToTalkChanged(Update):
    """Push-to-talk's state: ``recording`` (the microphone is sent), and ``hold`` — True when
    the terminal reports key release (hold Space), False when Space toggles (press to start,
    press again to send). The view shows it in the status line and picks its hint from it."""

    recording: bool
    hold: bool


@dataclass(frozen=True)
class MicMuted(Update):
    """The microphone was muted (silence is sent) or unmuted with ``m`` or ``/mute``."""

    muted: bool


@dataclass(frozen=True)
class InputMode(Update):
    """How this session takes input, for the header and the hints: ``mode`` is "talk" or
    "ptt"; ``keys`` says whether the keyboard is live (stdin and stdout are terminals)."""

    mode: str
    keys: bool


@dataclass(frozen=True)
class RepliesChanged(Update):
    """``/text``: replies are text only from now on; the header's mode says so."""

    text_only: bool
