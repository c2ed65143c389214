"""Shutdown cuts first, then joins (issue 16, Found 4), and nothing a thread hits vanishes
(Found 6). A scripted transport places the threads exactly (tests/fake_transport.py)."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import replace

from fake_transport import ScriptedTransport

from omnichat.engine import Engine
from omnichat.engine import updates as up
from omnichat.engine.connection import Connection, Outbox
from omnichat.engine.reconnect import ReconnectPolicy
from omnichat.errors import ConnectionLost, ProtocolError
from omnichat.protocol.events import Event
from omnichat.transport import Backoff

BLOCK_20MS = bytes(640)


class StuckWrites(ScriptedTransport):
    """A peer that stopped reading: an audio write blocks until the socket is cut."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = threading.Event()
        self.cut = threading.Event()
        self.order: list[str] = []

    def send(self, event: Event) -> None:
        if event.type == "input_audio_buffer.append":
            self.writing.set()
            self.cut.wait(10.0)
            self.order.append("write failed")
            raise ConnectionLost("the socket was shut down", retryable=False)
        super().send(event)

    def close(self, code: int = 1000) -> None:
        self.order.append("cut")
        self.cut.set()
        super().close(code)


def test_close_cuts_the_socket_before_joining_a_sender_stuck_in_a_write():
    """Found 4: close() joined the sender (3 s) before it cut the socket, so a stuck write
    cost seconds and a Ctrl+C in that window left the socket open."""
    transport = StuckWrites()
    engine = Engine({"modalities": ["text"]}, connect=lambda: transport)
    engine.start()
    engine.feed_mic(BLOCK_20MS)
    assert transport.writing.wait(5.0)
    started = time.monotonic()
    engine.close()
    assert time.monotonic() - started < 2.0
    assert transport.order == ["cut", "write failed"]


class GarbageAfterClose(ScriptedTransport):
    """Its reader raises a protocol error once the socket is being replaced."""

    def close(self, code: int = 1000) -> None:
        self._inbox.put(None)
        self.closing = True

    def recv(self) -> Event | None:
        event = super().recv()
        if event is None and getattr(self, "closing", False):
            raise ProtocolError("garbage after the close")
        return event


def test_a_replaced_receivers_error_is_logged_not_discarded(caplog):
    """Found 6: a receiver exception raised after the generation changed vanished."""
    transports = iter([GarbageAfterClose(), ScriptedTransport()])
    engine = Engine({"modalities": ["text"]}, connect=lambda: next(transports))
    with caplog.at_level("DEBUG", logger="omnichat.engine.engine"), engine:
        engine.reconnect()
    assert not engine.failed  # not a failure of the conversation ...
    messages = [r.getMessage() for r in caplog.records if r.name == "omnichat.engine.engine"]
    assert any("replaced connection 1" in m and "garbage after the close" in m
               for m in messages)  # ... but never silent


def test_replayed_speech_goes_ahead_of_live_audio_and_probes_ahead_of_everything():
    outbox = Outbox(audio_capacity_blocks=2)
    conn = Connection(ScriptedTransport(), 1)
    outbox.set_connection(conn)
    assert outbox.next().setup
    outbox.mark_ready(conn)
    outbox.put_audio(0.0, b"\x01" * 640)
    outbox.queue_first(b"\x02" * 640 * 5)  # 100 ms of replay, beyond the capacity of 2
    assert outbox.put_audio(0.0, b"\x03" * 640)  # live audio is not dropped meanwhile
    outbox.request_probe(1, 2.0)
    outbox.request_probe(0, 2.0)  # an older connection's: dropped
    assert outbox.next().probe_s == 2.0
    sent = outbox.next().audio
    assert sent == b"\x02" * 640 * 5  # a batch of at most 100 ms: the replay first
    assert outbox.next().audio == b"\x01" * 640 + b"\x03" * 640


class NeverReady(ScriptedTransport):
    """Connects, then never answers session.update (a session that never gets ready)."""

    def send(self, event: Event) -> None:
        with self._cond:
            self.sent.append((threading.current_thread().name, event))


def test_a_failed_rollover_says_so_and_reconnects():
    """Found 3: a rollover whose new session never got ready dropped its notice."""
    transports = iter([ScriptedTransport(), NeverReady(), ScriptedTransport()])
    policy = ReconnectPolicy(backoff=Backoff(base_s=0.05, cap_s=0.1, floor_s=0.01),
                             rollover_after_s=0.2)
    engine = Engine({"modalities": ["text"]}, connect=lambda: next(transports),
                    reconnect=policy, ready_timeout_s=0.3)
    seen: list[up.Update] = []
    with engine:
        deadline = time.monotonic() + 10.0
        while not any(isinstance(u, up.Notice) and "reconnected" in u.text for u in seen):
            assert time.monotonic() < deadline, seen
            seen.extend(engine.poll(0.05))
            if engine.keeper is not None and engine.keeper.rollovers:  # one is enough
                engine.keeper.policy = replace(policy, rollover_after_s=None)
    notices = [u.text for u in seen if isinstance(u, up.Notice)]
    assert any(text.startswith("connection lost (no session.updated") for text in notices)


def test_ctrl_c_while_a_thread_starts_ends_with_the_interrupt_not_a_join_error(monkeypatch):
    """A Ctrl+C that lands inside ``Thread.start`` of the sender left a thread that never
    started in the engine's list; ``close()`` then raised "cannot join thread before it is
    started" (a traceback and exit 1 instead of 130)."""
    real_start = threading.Thread.start

    def interrupted_start(thread: threading.Thread) -> None:
        if thread.name == "omnichat-send":
            raise KeyboardInterrupt
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", interrupted_start)
    engine = Engine({"modalities": ["text"]}, connect=ScriptedTransport)
    try:
        engine.start()
    except KeyboardInterrupt:
        pass
    else:  # pragma: no cover - the patched start always raises
        raise AssertionError("start() should have let the interrupt through")
    engine.close()  # idempotent and quiet: nothing to join


def test_ctrl_c_right_after_poll_takes_a_lock_leaves_close_able_to_finish():
    """CI once hung 20 s in ``close()``: a Ctrl+C landed in ``poll()`` just after
    ``queue.Queue.get`` had taken the queue's mutex (Python checks for signals after every
    call), so the mutex stayed held and close()'s last update waited on it for good. Here a
    profiler raises the interrupt after every lock the polling thread takes."""
    engine = Engine({"modalities": ["text"]}, connect=ScriptedTransport)
    engine.start()
    done = threading.Event()
    interrupted: list[str] = []

    def ctrl_c_after_a_lock(frame, event, arg):  # sys.setprofile's signature
        if event == "c_return" and getattr(arg, "__name__", "") in ("acquire", "__enter__"):
            interrupted.append(frame.f_code.co_filename)
            raise KeyboardInterrupt

    def main_thread() -> None:
        for _ in range(3):
            sys.setprofile(ctrl_c_after_a_lock)
            try:
                engine.poll(0.01)
            except KeyboardInterrupt:
                pass
            finally:
                sys.setprofile(None)
        engine.close()
        done.set()

    threading.Thread(target=main_thread, daemon=True).start()
    assert done.wait(10.0), f"close() hung after an interrupt in {interrupted}"
