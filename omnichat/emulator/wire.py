"""``Wire``: the socket side of one emulated connection, and the only writer to its socket.

Every frame the emulator sends is queued here (``put``/``put_event``/``put_close``, which
never block and never touch the socket) and written, in order, by the thread
``omnichat-emulator-send-N``. So no lock of the connection is ever held across a socket write
or a stall fault, and a client that stops reading can only block that one thread.

The writer blocks in two places: waiting for the outbox (a condition notified by ``put`` and
``stop``), and in the socket write, which has a deadline: ``SO_SNDTIMEO`` makes a write that
moves no byte for ``send_timeout_s`` fail, and the connection is then dropped. ``stop()``
(or any failure) sets ``closed``; the writer then exits after at most one write deadline plus
websockets' closing-handshake timeout. ``shutdown()`` (the emulator closing) does not wait
for that deadline: a write stuck in the socket is woken by shutting the socket down.

Back-pressure: producers call ``wait_room()`` outside their locks before queueing bulk data
(response audio, each client frame). An outbox past ``HARD_LIMIT_BYTES`` means the producer
ignored that, and the connection is dropped rather than grow without bound.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from omnichat.emulator.faults import FaultPlan
from omnichat.emulator.recording import Recording
from omnichat.emulator.trace import Trace
from omnichat.protocol.events import Event, encode

SOFT_LIMIT_BYTES = 1024 * 1024  # wait_room() waits while more than this is queued
HARD_LIMIT_BYTES = 32 * 1024 * 1024  # past this the connection is dropped
CLOSE_REASON_BYTES = 120  # a close frame's reason is at most 123 bytes


@dataclass(frozen=True)
class _Frame:
    text: str
    event: Mapping[str, Any] | None  # None for a raw (malformed) frame


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


class Wire:
    def __init__(self, websocket: ServerConnection, *, number: int, label: str,
                 send_timeout_s: float, faults: FaultPlan, recording: Recording | None,
                 trace: Trace | None) -> None:
        self.websocket = websocket
        self.label = label  # the service session id, for the trace
        self.faults = faults
        self.recording = recording
        self.trace = trace
        self.closed = threading.Event()  # set once nothing more will be written
        self.close_code: int | None = None  # the code the emulator closed with, if it did
        self.written = 0  # frames written so far (fault positions count these)
        self.queued = 0  # frames queued so far: written + waiting (a fault armed now counts
        # only frames queued after it)
        self._writing = False  # the writer is inside a socket write (read racily: a hint)
        self._outbox: deque[_Frame | _Close] = deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()  # guards _outbox/_queued_bytes; notified on change
        _set_send_deadline(websocket, send_timeout_s)
        self.thread = threading.Thread(target=self._send_loop, daemon=False,
                                       name=f"omnichat-emulator-send-{number}")

    # --- producers (any thread, any lock held: none of these block) -------------------------

    def put_event(self, event: Event | Mapping[str, Any]) -> None:
        data = event.data if isinstance(event, Event) else event
        self._put(_Frame(encode(data), data))

    def put_raw(self, text: str) -> None:
        self._put(_Frame(text, None))

    def put_close(self, code: int, reason: str = "") -> None:
        """Close with ``code`` once everything queued before it has been written."""
        self._put(_Close(code, reason))

    def _put(self, item: _Frame | _Close) -> None:
        with self._cond:
            if self.closed.is_set():
                return
            self._outbox.append(item)
            if isinstance(item, _Frame):
                self._queued_bytes += len(item.text)
                self.queued += 1
            overflow = self._queued_bytes > HARD_LIMIT_BYTES
            self._cond.notify_all()
        if overflow:
            self.abort()

    def wait_room(self) -> None:
        """Block (with no lock held by the caller) while the outbox is over its soft limit."""
        with self._cond:
            self._cond.wait_for(lambda: self.closed.is_set()
                                or self._queued_bytes <= SOFT_LIMIT_BYTES)

    def stop(self) -> None:
        """Write nothing more; the writer exits (after its current write, if any)."""
        with self._cond:
            self.closed.set()
            self._outbox.clear()
            self._queued_bytes = 0
            self._cond.notify_all()

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake; wakes a blocked write."""
        self.stop()
        try:
            self.websocket.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed
        self.websocket.close_socket()

    def shutdown(self) -> None:
        """The emulator is closing: stop, and drop the socket now if a write is stuck in it
        (a client that does not read would otherwise hold the close for ``send_timeout_s``)."""
        self.stop()
        if self._writing:
            self.abort()

    # --- the writer thread ------------------------------------------------------------------

    def _next(self) -> _Frame | _Close | None:
        with self._cond:
            self._cond.wait_for(lambda: self._outbox or self.closed.is_set())
            if self.closed.is_set():
                return None
            item = self._outbox.popleft()
            self._queued_bytes -= len(item.text) if isinstance(item, _Frame) else 0
            self._cond.notify_all()
            return item

    def _send_loop(self) -> None:
        try:
            while (item := self._next()) is not None:
                if isinstance(item, _Close):
                    self._close(item.code, item.reason)
                    return
                stall_s = self.faults.stall_before(self.written)
                if stall_s and self.closed.wait(stall_s):  # stop() ends a stall early
                    return
                if not self._write(item):
                    return
                closing = self.faults.close_after(self.written, _type_of(item))
                if closing is not None:
                    self._close(*closing)
                    return
        finally:
            self.stop()

    def _write(self, frame: _Frame) -> bool:
        # Recorded before the write: a client may act on a frame (and a test look for it in
        # the recording) before send() returns here.
        if frame.event is not None and self.recording is not None:
            self.recording.add_sent(frame.event)
        self._writing = True
        try:
            self.websocket.send(frame.text)
        except (ConnectionClosed, OSError, RuntimeError):
            self.abort()  # includes a write that hit its deadline
            return False
        finally:
            self._writing = False
        self.written += 1
        if self.trace is not None:
            if frame.event is not None:
                self.trace.event(self.label, "out", frame.event)
            else:
                self.trace.raw(self.label, "out", frame.text)
        return True

    def _close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
        if self.trace is not None:
            self.trace.write(self.label, "out", note=f"close {code} {reason}")
        self.stop()
        cut = reason.encode("utf-8")[:CLOSE_REASON_BYTES].decode("utf-8", "ignore")
        try:
            self.websocket.close(code, cut)
        except (OSError, RuntimeError):
            self.websocket.close_socket()


def _type_of(frame: _Frame) -> str:
    return str(frame.event.get("type")) if frame.event is not None else ""


def _set_send_deadline(websocket: ServerConnection, seconds: float) -> None:
    """A blocking write that moves no byte for ``seconds`` fails (Linux SO_SNDTIMEO)."""
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    websocket.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
