"""The interface the engine talks to, so a conversation can swap its socket (reconnect,
session rollover) without knowing how frames travel."""

from __future__ import annotations

from typing import Protocol

from omnichat.protocol.events import Event

CLOSE_NORMAL = 1000


class Transport(Protocol):
    """What the engine needs from a connection. ``recv`` returns None once ``close`` closed
    the socket, and raises ``ConnectionLost`` when the server closed or dropped it;
    ``probe(timeout_s)`` pings now and makes the blocked ``recv`` raise a retryable
    ``ConnectionLost`` if nothing arrives in time. ``close`` may be called from another thread
    at any time, a ``connect`` in progress included, and makes it end promptly."""

    url: str

    def connect(self) -> None: ...
    def send(self, event: Event) -> None: ...
    def recv(self) -> Event | None: ...
    def probe(self, timeout_s: float) -> None: ...
    def close(self, code: int = CLOSE_NORMAL) -> None: ...
    def release(self) -> None: ...
