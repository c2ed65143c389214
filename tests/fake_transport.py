"""A scripted ``Transport`` for engine tests that need to place a thread exactly: the test is
the server. ``recv`` returns what the test pushed; every ``send`` is recorded with the name of
the thread that made it; ``on_send`` is a hook that runs before a send is recorded."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from omnichat.protocol.events import Event, from_dict


class ScriptedTransport:
    def __init__(self, url: str = "fake://1", on_send: Callable[[Event], None] | None = None):
        self.url = url
        self.on_send = on_send
        self._inbox: queue.Queue[Event | None] = queue.Queue()
        self._cond = threading.Condition()
        self.sent: list[tuple[str, Event]] = []  # (thread name, event)
        self.probes: list[float] = []  # the timeout of each probe() (the link never dies)

    def push(self, type_: str, **fields: Any) -> None:
        self._inbox.put(from_dict({"type": type_, **fields}))

    # ---- Transport --------------------------------------------------------------------------

    def connect(self) -> None:
        pass

    def send(self, event: Event) -> None:
        if self.on_send is not None:
            self.on_send(event)
        with self._cond:
            self.sent.append((threading.current_thread().name, event))
            self._cond.notify_all()
        if event.type == "session.update":
            self.push("session.updated", session=dict(event.data["session"]))

    def recv(self) -> Event | None:
        return self._inbox.get()  # unblocked by a push or close()

    def probe(self, timeout_s: float) -> None:
        self.probes.append(timeout_s)

    def close(self, code: int = 1000) -> None:
        self._inbox.put(None)

    def release(self) -> None:
        pass

    # ---- the test's side --------------------------------------------------------------------

    def types(self) -> list[str]:
        with self._cond:
            return [event.type for _, event in self.sent]

    def wait_sent(self, type_: str, timeout_s: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: any(e.type == type_ for _, e in self.sent),
                                       timeout_s)
