"""What ``ConversationState`` decides: typed actions the engine carries out, in order.

The state never does I/O; every step (``handle``, ``command``, ``tick``, ``heard``, ...)
returns a list of these. The engine executes playback actions at once under its state lock
(so a flush is ordered with the writes around it), queues ``Send`` on the sender's outbox, and
hands turns and view updates out after releasing the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from omnichat.engine.turns import Turn
from omnichat.engine.updates import Update
from omnichat.errors import OmnichatError
from omnichat.protocol.events import Event


class Action:
    """Base class of everything the state asks the engine to do."""


@dataclass(frozen=True)
class Send(Action):
    """Queue ``event`` for the socket of the current connection.

    ``after_audio``: hold it until audio was sent on that connection (images).
    ``behind_audio``: send it after the microphone audio queued so far (commit, clear)."""

    event: Event
    after_audio: bool = False
    behind_audio: bool = False


@dataclass(frozen=True)
class PlayAudio(Action):
    """Append reply audio (24 kHz int16 PCM) to the playback buffer."""

    pcm: bytes


@dataclass(frozen=True)
class FinishPlayback(Action):
    """The reply has no more audio: running dry from now on is not an underrun."""


@dataclass(frozen=True)
class FlushPlayback(Action):
    """Silence the speaker at its next block: drop everything queued (barge-in)."""


@dataclass(frozen=True)
class WatchHeard(Action):
    """Report when the sample at stream position ``start`` (the first sample of the reply
    ``response_id``) is played, unless a flush drops it first: ``ConversationState.heard``."""

    response_id: str
    start: int


@dataclass(frozen=True)
class ViewUpdate(Action):
    """Show something: put ``update`` on the engine's updates queue."""

    update: Update


@dataclass(frozen=True)
class RecordTurn(Action):
    """A turn is final: add it to the conversation, the transcript and the view
    (``TurnFinished``). Turns come in conversation order: a user turn first, even when its
    transcription came after the reply."""

    turn: Turn


@dataclass(frozen=True)
class SessionReady(Action):
    """``session.updated`` arrived: the connection may carry audio and commands now."""


@dataclass(frozen=True)
class CallTool(Action):
    """The model asks for a function call; answer with ``commands.ToolResult(call_id, ...)``."""

    response_id: str
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class AskMcpApproval(Action):
    """The service asks before it calls a tool of a server-side MCP server (qwen3.8):
    answer with ``commands.McpApproval(request_id, approve)``."""

    request_id: str
    server_label: str
    name: str
    arguments: str


@dataclass(frozen=True)
class McpCallDone(Action):
    """The service called a server-side MCP tool: what it returned (or its error)."""

    server_label: str
    name: str
    output: str
    error: str


@dataclass(frozen=True)
class ToolCallsDropped(Action):
    """The user moved on (spoke, typed, interrupted, reconnected): the results of these calls
    will not be sent; a tool run still working on them may stop."""

    call_ids: tuple[str, ...]


@dataclass(frozen=True)
class SetMicMuted(Action):
    """Send silence instead of the microphone (True) or the microphone again (False)."""

    muted: bool


@dataclass(frozen=True)
class Fail(Action):
    """The conversation cannot go on (e.g. the service rejected the session)."""

    error: OmnichatError


@dataclass(frozen=True)
class Stalled(Action):
    """A reply stopped streaming: nothing from the server for ``silent_s`` seconds."""

    silent_s: float


@dataclass(frozen=True)
class Probe(Action):
    """Ask the link whether it is alive: a ping that must be answered (by any frame) within
    ``timeout_s``, or the connection is taken for dead (liveness.py)."""

    timeout_s: float


class CloseReason(Enum):
    """Why the service announced that it closes the session."""

    IDLE = "idle"  # no response for 300 s
    SESSION_LIMIT = "session_limit"  # the maximum session length (120 min)


@dataclass(frozen=True)
class ServiceClosing(Action):
    """The service said it is closing the session (an ``error`` event before the close):
    the close that follows is expected; a reconnect policy may open a new session."""

    reason: CloseReason
    message: str


class Collector:
    """The actions of one state step, in the order they were decided."""

    def __init__(self) -> None:
        self._actions: list[Action] = []

    def emit(self, action: Action) -> None:
        self._actions.append(action)

    def view(self, update: Update) -> None:
        self._actions.append(ViewUpdate(update))

    def take(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions
