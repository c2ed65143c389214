"""What the local side asks of the conversation: typed commands, no I/O.

Any thread hands one to ``Engine.command()`` (a key, typed text, a tool runner); the engine
passes it to ``ConversationState.command()`` under its state lock, and the state answers with
actions (events to send, a playback flush, view updates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Command:
    """Base class of every local command."""


@dataclass(frozen=True)
class Commit(Command):
    """End the user's turn by hand (push-to-talk release): commit the audio, ask for a reply."""


@dataclass(frozen=True)
class ClearInput(Command):
    """Drop the audio the server holds for the turn in progress (push-to-talk cancel)."""


@dataclass(frozen=True)
class Interrupt(Command):
    """Barge-in by key: silence the reply now and cancel it if it is still generated."""


@dataclass(frozen=True)
class LocalSpeech(Command):
    """Local barge-in: the voice detector on the echo-processed microphone heard the user speak
    long enough. Cuts a reply that still talks at once; the server's ``speech_started`` should
    confirm it shortly (else a notice says the service did not hear it)."""


@dataclass(frozen=True)
class SendText(Command):
    """A typed user message and a reply to it; interrupts an answer in progress."""

    text: str


@dataclass(frozen=True)
class SendImage(Command):
    """A JPEG for the model to see (raw bytes; encoded on the wire). Held until the first
    audio was sent on the current session: the service rejects images before audio."""

    jpeg: bytes


@dataclass(frozen=True)
class ToolResult(Command):
    """The output of a function call the model asked for (see ``actions.CallTool``)."""

    call_id: str
    output: str


@dataclass(frozen=True)
class McpApproval(Command):
    """The user's answer to an ``mcp_approval_request`` (see ``actions.AskMcpApproval``)."""

    request_id: str
    approve: bool


@dataclass(frozen=True)
class SetMute(Command):
    """Mute (silence is sent instead of the microphone, so the server's VAD keeps its clock)."""

    muted: bool


@dataclass(frozen=True)
class UpdateSession(Command):
    """Change session settings mid-conversation (``/voice``, ``/text``): ``session`` is the
    whole new ``session`` object (the caller also keeps it for a reconnect's replay)."""

    session: dict[str, Any] = field(default_factory=dict)
