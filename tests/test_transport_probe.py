"""probe(timeout_s): a ping sent at once, and a link that answers nothing in time is dead —
the blocked reader raises a retryable ConnectionLost well before its own read deadline. A
live link (the emulator answers pings) survives a probe, and a probe never waits behind a
writer stuck on a peer that stopped reading."""

from __future__ import annotations

import queue
import threading

from hostile_server import HostileServer, handshake, read_client_frame, unread_bytes

from omnichat.errors import ConnectionLost
from omnichat.protocol import client as cev
from omnichat.transport import WebSocketTransport

SECRET = "sk-test-secret-0123456789"
MODEL = "qwen3.5-omni-plus-realtime"
OP_PING = 0x9


class _Fake:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _reader(transport) -> tuple[threading.Thread, queue.Queue]:
    """recv() in a loop on its own thread; every event, then None or the exception, goes to
    the queue."""
    events: queue.Queue = queue.Queue()

    def run():
        try:
            while (event := transport.recv()) is not None:
                events.put(event)
            events.put(None)
        except Exception as exc:  # the test inspects it
            events.put(exc)

    thread = threading.Thread(target=run, name="omnichat-test-recv")
    thread.start()
    return thread, events


def _silent(opcodes: list):
    """Completes the handshake, then reads the client's frames and never answers."""
    def handler(conn, server):
        handshake(conn, server)
        try:
            while not server.stop.is_set():
                opcodes.append(read_client_frame(conn)[0])
        except EOFError:
            pass
    return handler


def _probe_a_silent_server(ping_first: bool) -> tuple[ConnectionLost, list]:
    opcodes: list = []
    clock = _Fake()
    with HostileServer(_silent(opcodes)) as server:
        transport = WebSocketTransport(server.url(), SECRET, clock=clock,
                                       io_timeout_s=60.0, ping_interval_s=15.0)
        transport.connect()
        reader, events = _reader(transport)
        if ping_first:
            clock.now = 16.0
            transport.ping()  # a keep-alive ping is outstanding: the probe adds none
        transport.probe(0.3)
        outcome = events.get(timeout=10.0)  # far below the 60 s read deadline
        reader.join(5.0)
        transport.close()
        transport.release()
    return outcome, opcodes


def test_a_probe_unanswered_in_time_makes_the_blocked_reader_raise():
    error, opcodes = _probe_a_silent_server(ping_first=False)
    assert isinstance(error, ConnectionLost) and error.retryable
    assert "within 0.3 s; the connection is dead" in str(error) and SECRET not in str(error)
    assert opcodes[:1] == [OP_PING]


def test_a_probe_adds_no_ping_while_one_is_outstanding():
    error, opcodes = _probe_a_silent_server(ping_first=True)
    assert isinstance(error, ConnectionLost) and "within 0.3 s" in str(error)
    assert opcodes.count(OP_PING) == 1


def test_a_live_link_survives_a_probe(emulator):
    transport = WebSocketTransport(f"{emulator.url}?model={MODEL}", None)
    transport.connect()
    reader, events = _reader(transport)
    try:
        assert events.get(timeout=5.0).type == "session.created"
        transport.probe(0.5)
        reader.join(1.0)  # twice the probe's deadline: the pong came, nothing is raised
        assert reader.is_alive() and events.empty()
        transport.send(cev.session_update({"voice": "Tina"}))
        assert events.get(timeout=5.0).type == "session.updated"
    finally:
        transport.close()
        reader.join(5.0)
        transport.release()
    assert events.get(timeout=1.0) is None


def _never_reads(conn, server):
    handshake(conn, server)
    server.wait_backlog(conn, 32 * 1024)


def test_a_probe_does_not_wait_behind_a_stuck_writer():
    with HostileServer(_never_reads) as server:
        transport = WebSocketTransport(server.url(), SECRET, io_timeout_s=120.0)
        transport.connect()
        reader, events = _reader(transport)
        sent: list = []

        def send_big():
            try:
                transport.send(cev.user_text_message("x" * (16 * 1024 * 1024)))
            except ConnectionLost as exc:
                sent.append(exc)

        sender = threading.Thread(target=send_big, name="omnichat-test-send")
        sender.start()
        assert server.backlogged.wait(30.0)  # the sender holds the socket now
        prober = threading.Thread(target=transport.probe, args=(0.3,),
                                  name="omnichat-test-probe")
        prober.start()
        prober.join(1.0)
        returned = not prober.is_alive()
        outcome = events.get(timeout=10.0)
        for thread in (prober, sender, reader):
            thread.join(5.0)
        transport.close()
        transport.release()
    assert returned, "probe() waited behind the stuck writer"
    assert isinstance(outcome, ConnectionLost) and "within 0.3 s" in str(outcome)
    assert sent and "within 0.3 s" in str(sent[0])  # the writer learns the same reason


def test_a_probe_during_a_write_sends_its_ping_right_after_it():
    frames: queue.Queue = queue.Queue()
    probed = threading.Event()

    def reads_late(conn, server):
        """Lets the client's big write back up, then reads every frame once probed."""
        handshake(conn, server)
        while not server.stop.wait(0.01) and unread_bytes(conn) < 32 * 1024:
            pass
        server.backlogged.set()
        probed.wait(10.0)
        try:
            while not server.stop.is_set():
                frames.put(read_client_frame(conn)[0])
        except EOFError:
            pass

    with HostileServer(reads_late) as server:
        transport = WebSocketTransport(server.url(), SECRET)
        transport.connect()
        sender = threading.Thread(
            target=transport.send, args=(cev.user_text_message("x" * (4 * 1024 * 1024 - 512)),),
            name="omnichat-test-send")
        sender.start()
        assert server.backlogged.wait(30.0)  # the big write holds the send lock now
        transport.probe(30.0)
        probed.set()
        first, second = frames.get(timeout=10.0), frames.get(timeout=10.0)
        sender.join(10.0)
        transport.close()
        transport.release()
    assert (first, second) == (0x1, OP_PING)

