"""``Recording``: what one connection received and sent, kept only when a test asks for it.

Off by default (``Emulator(record=True)`` turns it on; the test fixtures do), because a
two-hour conversation would otherwise hold every audio frame in memory. Even when on it is
bounded: at most ``max_events`` per direction (the oldest are dropped), and base64 audio and
image payloads are kept whole only until ``max_payload_bytes`` of them are held; later ones
are summarised as ``"<N base64 chars>"`` like the trace file does.

Threads: the connection's handler thread adds received events, its writer thread adds sent
ones; test threads read and wait. ``changed`` guards both lists and is notified on each add.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal

from omnichat.emulator.trace import PAYLOAD_FIELDS, elide
from omnichat.protocol.events import Event, from_dict

Direction = Literal["sent", "received"]


class Recording:
    def __init__(self, max_events: int, max_payload_bytes: int) -> None:
        self.received: deque[Event] = deque(maxlen=max_events)
        self.sent: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.changed = threading.Condition()  # guards both deques; notified on every add
        self._payload_budget = max_payload_bytes

    def _bounded(self, data: Mapping[str, Any]) -> dict[str, Any]:
        chars = _payload_chars(data)
        if chars <= self._payload_budget:
            self._payload_budget -= chars
            return dict(data)
        return elide(data)

    def add_received(self, event: Event) -> None:
        with self.changed:
            bounded = self._bounded(event.data)
            if bounded != event.data:
                event = from_dict(bounded)
            self.received.append(event)
            self.changed.notify_all()

    def add_sent(self, data: Mapping[str, Any]) -> None:
        with self.changed:
            self.sent.append(self._bounded(data))
            self.changed.notify_all()

    def types(self, direction: Direction) -> list[str]:
        with self.changed:
            if direction == "sent":
                return [str(event.get("type")) for event in self.sent]
            return [event.type for event in self.received]

    def find(self, type_name: str, direction: Direction, count: int) -> Any:
        """The ``count``-th recorded event of ``type_name`` or None (call with ``changed``)."""
        found: list[Any]
        if direction == "sent":
            found = [e for e in self.sent if e.get("type") == type_name]
        else:
            found = [e for e in self.received if e.type == type_name]
        return found[count - 1] if len(found) >= count else None

    def wait_for(self, type_name: str, direction: Direction, count: int, timeout: float) -> Any:
        with self.changed:
            if not self.changed.wait_for(
                    lambda: self.find(type_name, direction, count) is not None, timeout=timeout):
                raise TimeoutError(f"no {direction} {type_name!r} #{count} within {timeout}s; "
                                   f"{direction}: {self.types(direction)}")
            return self.find(type_name, direction, count)

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def payload_chars_held(self) -> int:
        """Base64 payload characters held (what the memory regression test counts)."""
        with self.changed:
            events = [e.data for e in self.received] + list(self.sent)
        return sum(_payload_chars(event) for event in events)


def _payload_chars(data: Mapping[str, Any]) -> int:
    field = PAYLOAD_FIELDS.get(str(data.get("type")))
    payload = data.get(field) if field else None
    return len(payload) if isinstance(payload, str) else 0
