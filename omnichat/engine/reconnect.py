"""Keeping a conversation alive: when to reconnect, when to roll over, what the new session
is told. Pure: no threads, sockets or clock reads (``now`` is an argument); the engine
carries the decisions out on its reconnect thread (rejoin.py).

* **Reconnection.** A retryable ``ConnectionLost`` (a drop, a dead link found by a probe,
  the service closing the session) starts an ``Outage``. Attempts follow ``Backoff`` (exponential,
  full jitter); the first one is immediate when the service closed the session on purpose
  (idle close, session cap). A non-retryable error (refused key, redirect, TLS, unknown
  model) ends the conversation at once; after ``backoff.max_attempts`` failures it ends with
  one line naming the attempts and the last reason.
* **No flapping.** Drops that follow successful handshakes count against one budget: the
  first drop is retried at once, each further drop within ``flap_window_s`` waits the
  backoff of one more attempt, and the ``flap_drops``-th drop in that window ends the
  conversation with one line naming the pattern (a server that accepts and then drops
  every connection would otherwise be reconnected to forever, at full speed).
* **Rollover.** A session older than ``rollover_after_s`` is replaced during a pause (nobody
  speaking, no reply pending, playback drained), opening the new socket before closing the
  old one, so nothing audible is lost.
* **Context.** The new session is a new service session that remembers nothing; the recent
  turns are replayed into its ``instructions`` (see ``session_with_history`` for why not as
  ``conversation.item.create`` items), within ``context_turns`` turns and ``context_chars``
  characters.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.errors import ConnectionLost, OmnichatError
from omnichat.transport import Backoff

ROLLOVER_AFTER_S = 110 * 60.0  # the service closes a session at 120 minutes
CONTEXT_TURNS = 20
CONTEXT_CHARS = 4000
PING_EVERY_S = 1.0  # how often the sender lets the transport check its keep-alive
FLAP_DROPS = 5  # this many drops ...
FLAP_WINDOW_S = 120.0  # ... within this long end the conversation
HISTORY_HEADER = ("The connection was renewed. The conversation so far, oldest first "
                  "(continue it; do not repeat earlier answers):")


@dataclass(frozen=True)
class ReconnectPolicy:
    """What a dropped or expiring session may do. ``Engine(reconnect=None)`` never retries."""

    backoff: Backoff = field(default_factory=Backoff)
    rollover_after_s: float | None = ROLLOVER_AFTER_S  # None: no planned rollover
    context_turns: int = CONTEXT_TURNS
    context_chars: int = CONTEXT_CHARS
    ping_every_s: float = PING_EVERY_S
    flap_drops: int = FLAP_DROPS
    flap_window_s: float = FLAP_WINDOW_S


def reconnect_policy(settings: Any) -> ReconnectPolicy | None:
    """The policy ``talk`` uses, from ``omnichat.config.settings.Settings`` (None: never retry)."""
    if settings.reconnect_attempts <= 0:
        return None
    return ReconnectPolicy(backoff=Backoff(max_attempts=settings.reconnect_attempts),
                           rollover_after_s=settings.session_rollover_min * 60.0,
                           context_turns=settings.context_replay_turns,
                           context_chars=settings.context_replay_chars)


@dataclass
class Outage:
    """One stretch without a usable connection, from the drop to the restored session."""

    started_at: float
    cause: str
    planned: bool  # the service closed the session on purpose: no waiting before attempt 1
    attempts: int = 0
    next_at: float = 0.0
    last_error: str = ""
    backoff_from: int = 0  # drops just before this one: the backoff starts that far in


class Reconnector:
    """Decides when to try again and what to say; see the module docstring."""

    def __init__(self, policy: ReconnectPolicy):
        self.policy = policy
        self.outage: Outage | None = None
        self.reconnections = 0
        self.rollovers = 0
        self._drops: deque[tuple[float, bool]] = deque()  # (when, mid-reply) within the window

    def lost(self, now: float, error: OmnichatError, planned: bool,
             mid_reply: bool = False, counted: bool | None = None,
             normal_close: bool = False) -> list[up.Update]:
        """The connection dropped (first report of this outage only). A drop that is
        ``counted`` (default: not planned) counts against the flapping budget and delays
        the first attempt."""
        if self.outage is not None:
            return []
        backoff_from = 0
        if (not planned) if counted is None else counted:
            window = self.policy.flap_window_s
            while self._drops and now - self._drops[0][0] > window:
                self._drops.popleft()
            self._drops.append((now, mid_reply))
            backoff_from = len(self._drops) - 1
        delay = self.policy.backoff.delay_s(backoff_from - 1) if backoff_from else 0.0
        self.outage = Outage(now, str(error), planned, next_at=now + delay,
                             backoff_from=backoff_from)
        if normal_close:  # code 1000: the service ended it on purpose, without a reason
            return [up.Notice("the service closed the connection normally; continuing in "
                              "a new session", level="info")]
        if planned:
            return [up.Notice("the service ended the session; continuing in a new one",
                              level="info")]
        return [up.Notice(f"connection lost ({error}); reconnecting")]

    def flapping(self) -> ConnectionLost | None:
        """The error that ends a conversation whose connection keeps dropping, or None."""
        drops = len(self._drops)
        if drops < max(1, self.policy.flap_drops):
            return None
        mid_reply = sum(1 for _, mid in self._drops if mid) * 2 >= drops
        assert self.outage is not None
        span_s = self._drops[-1][0] - self._drops[0][0]
        return ConnectionLost(
            f"the service keeps dropping the connection{' mid-reply' if mid_reply else ''}: "
            f"{drops} drops in {span_s:.0f} s (the last: {self.outage.cause}); "
            "stopping instead of reconnecting again", retryable=False)

    def due(self, now: float) -> bool:
        return self.outage is not None and now >= self.outage.next_at

    def attempt_failed(self, now: float, error: BaseException) -> BaseException | None:
        """An attempt failed: the error to end with, or None (the next attempt is scheduled)."""
        outage = self.outage
        assert outage is not None
        if not getattr(error, "retryable", False):
            return error
        outage.attempts += 1
        outage.last_error = str(error)
        backoff = self.policy.backoff
        if outage.attempts >= max(1, backoff.max_attempts):
            return ConnectionLost(
                f"the connection could not be restored after {outage.attempts} attempts "
                f"over {now - outage.started_at:.0f} s; the last one: {outage.last_error}",
                retryable=False)
        outage.next_at = now + backoff.delay_s(outage.backoff_from + outage.attempts - 1)
        return None

    def restored(self, now: float, dropped_audio_s: float,
                 replayed_s: float = 0.0) -> list[up.Update]:
        """The new session is configured: what to tell the user (``replayed_s``: speech the
        dead link swallowed, sent again; ``dropped_audio_s``: speech that could not be)."""
        outage, self.outage = self.outage, None
        if outage is None:
            return []
        self.reconnections += 1
        notices: list[up.Update] = [] if outage.planned else [up.Notice(
            f"reconnected after {now - outage.started_at:.1f} s", level="info")]
        if dropped_audio_s > 0.05:
            notices.append(up.Notice(
                f"{dropped_audio_s:.1f} s of what you said while the connection was down "
                "could not be sent (longer than omnichat keeps); please say it again"))
        elif replayed_s > 0.05 and not outage.planned:
            notices.append(up.Notice(f"sent again the {replayed_s:.1f} s of audio the lost "
                                     "connection may have swallowed", level="info"))
        return notices

    def rollover_due(self, now: float, session_started_at: float, idle: bool) -> bool:
        after = self.policy.rollover_after_s
        return (after is not None and self.outage is None and idle
                and now - session_started_at >= after)


def session_with_history(session: Mapping[str, Any], turns: Iterable[Turn],
                         max_turns: int, max_chars: int) -> dict[str, Any]:
    """``session`` with the recent conversation appended to its instructions.

    Why instructions and not ``conversation.item.create``: the service documents (and was
    seen to accept) only *user* ``input_text`` messages and tool outputs as created items
    (docs/protocol.md §3.6); assistant text items are undocumented, and replaying only the user's
    side would tell the model the user said its answers, or nothing of them. Instructions
    are accepted by every model, travel in the ``session.update`` the new socket sends
    first anyway, and so can never race the user's next words.
    """
    lines = history_lines(turns, max_turns, max_chars)
    payload = dict(session)
    if not lines:
        return payload
    base = payload.get("instructions")
    parts = [base] if isinstance(base, str) and base else []
    parts += [HISTORY_HEADER, *lines]
    payload["instructions"] = "\n".join(parts)
    return payload


def history_lines(turns: Iterable[Turn], max_turns: int, max_chars: int) -> list[str]:
    """The newest turns as "User: ..." / "Assistant: ..." lines, oldest first, within budget.

    An interrupted reply contributes what the user heard. A turn that does not fit the
    character budget whole is left out with everything older (no half sentences)."""
    lines: list[str] = []
    used = 0
    for turn in reversed([t for t in turns if _said(t)][-max_turns:] if max_turns > 0 else []):
        line = f"{'User' if turn.role == 'user' else 'Assistant'}: {_said(turn)}"
        if used + len(line) + 1 > max_chars:
            break
        lines.append(line)
        used += len(line) + 1
    return lines[::-1]


def _said(turn: Turn) -> str:
    text = turn.heard if turn.role == "assistant" and turn.interrupted else turn.text
    return " ".join((text or "").split())
