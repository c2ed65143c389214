"""Carrying a conversation on: ``--continue`` (the most recent) and ``--resume ID``.

The new service session remembers nothing, so it is primed the way a reconnection primes
its new session (``omnichat.engine.reconnect``): the earlier turns become lines of its
``instructions``, chosen by the same ``history_lines`` within the same budget
(``context_replay_turns``, ``context_replay_chars``). The primed instructions stay the
session's instructions for the whole run, so a later ``/voice`` or a reconnection keeps them
(a reconnection adds the new turns after them, within its own budget). The new turns are
appended to the same transcript, after a session record of their own.

``--continue`` with no earlier conversation is an error (exit 2, nothing written): a script
that meant to carry a conversation on should not silently start another one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnichat.engine.reconnect import history_lines
from omnichat.engine.turns import Turn
from omnichat.errors import UsageError
from omnichat.history.records import Warn, iter_records, to_turn
from omnichat.history.store import Conversation, ConversationStore

RESUME_HEADER = ("This continues an earlier conversation with the user. What was said, "
                 "oldest first (carry on from it; do not repeat earlier answers):")
EARLIER_SHOWN = 4  # the last few earlier turns the live view opens with
KEPT_TURNS = 1000  # more than any replay budget can use (context_replay_turns <= 500)


@dataclass
class Resumption:
    """The conversation being carried on and its earlier turns (user and assistant)."""

    conversation: Conversation
    turns: list[Turn]  # the newest KEPT_TURNS
    count: int  # all of them

    @property
    def path(self) -> Path:
        return self.conversation.path


def find_resumption(directory: Path, ref: str, warn: Warn) -> Resumption:
    """``ref`` is ``last`` (``--continue``) or an id (``--resume``); exit 2 when not found."""
    store = ConversationStore(directory, lambda _line: None)  # the reading below warns
    if ref == "last" and not store.conversations():
        raise UsageError(f"--continue: no earlier conversation in {directory}; start one "
                         "without --continue (or pick one with --resume ID from "
                         "'omnichat history')")
    conversation = store.find(ref)
    turns: deque[Turn] = deque(maxlen=KEPT_TURNS)
    count = 0
    for record in iter_records(conversation.path, warn):
        turn = to_turn(record)
        if turn is not None:
            turns.append(turn)
            count += 1
    return Resumption(conversation, list(turns), count)


def primed_session(session: Mapping[str, Any], turns: Sequence[Turn], max_turns: int,
                   max_chars: int) -> dict[str, Any]:
    """``session`` with the earlier turns appended to its instructions (reconnect's budget)."""
    payload = dict(session)
    lines = history_lines(turns, max_turns, max_chars)
    if not lines:
        return payload
    base = payload.get("instructions")
    parts = [base] if isinstance(base, str) and base else []
    payload["instructions"] = "\n".join([*parts, RESUME_HEADER, *lines])
    return payload


def settings_change(resumption: Resumption, model: str, voice: str) -> str | None:
    """One line when the conversation was held with another model or voice."""
    summary = resumption.conversation.summary
    was = []
    if summary.model and summary.model != model:
        was.append(f"model {summary.model}")
    if summary.voice and summary.voice != voice:
        was.append(f"voice {summary.voice}")
    if not was:
        return None
    return (f"this conversation was held with {' and '.join(was)}; it continues with "
            f"model {model}, voice {voice} (the current settings)")


def continuing_line(resumption: Resumption) -> str:
    count = resumption.count
    return (f"continuing conversation {resumption.conversation.id} "
            f"({count} earlier turn{'' if count == 1 else 's'})")
