"""How a connection ends: the server's close is echoed and reported like a drop (one path for
the engine), a normal one (1000, 1001) told apart by closed_normally; an invalid close payload
is a protocol error, and close() is bounded even with a peer
that stopped reading while another thread is stuck in a write and a third waits in recv."""

from __future__ import annotations

import queue
import struct

import pytest
from hostile_server import (
    HostileServer,
    close_frame,
    handshake,
    in_thread,
    never_reads,
    read_client_frame,
)

from omnichat.errors import ConnectionLost, ExitCode, ProtocolError
from omnichat.protocol import client as cev
from omnichat.transport import WebSocketTransport

SECRET = "sk-test-secret-0123456789"
BIG_TEXT = "x" * (16 * 1024 * 1024)  # far more than any socket buffer holds


def _closes_with(payload: bytes, answers: queue.Queue):
    """Handshake, send a close frame with ``payload``, report the client's next frame."""
    def handler(conn, server):
        handshake(conn, server)
        conn.sendall(close_frame(payload))
        try:
            answers.put(read_client_frame(conn))
        except EOFError:
            answers.put(None)
        server.stop.wait(10.0)
    return handler


def _opened(server: HostileServer) -> WebSocketTransport:
    transport = WebSocketTransport(server.url(), SECRET)
    transport.connect()
    return transport


@pytest.mark.parametrize("code", [1000, 1001])
def test_a_normal_close_by_the_server_is_echoed_and_told_apart_from_a_drop(code):
    answers: queue.Queue = queue.Queue()
    with HostileServer(_closes_with(struct.pack("!H", code) + b"session over", answers)) \
            as server:
        transport = _opened(server)
        try:
            with pytest.raises(ConnectionLost, match=f"code {code}") as info:
                transport.recv()
            assert info.value.retryable  # the engine's policy decides what a normal end means
            assert transport.recv() is None  # ended
            echo = answers.get(timeout=5.0)
            with pytest.raises(ConnectionLost, match=f"code {code}") as info:
                transport.send(cev.input_audio_commit())  # the sender learns it, too
            assert info.value.retryable
        finally:
            transport.close()
            transport.release()
    assert transport.closed_normally and transport.close_code == code
    assert echo is not None and echo[0] == 0x8 and echo[1][:2] == struct.pack("!H", code)


def test_another_close_code_is_a_retryable_drop_that_names_it_printably():
    answers: queue.Queue = queue.Queue()
    payload = struct.pack("!H", 4000) + b"overloaded \x1b[2J"
    with HostileServer(_closes_with(payload, answers)) as server:
        transport = _opened(server)
        try:
            with pytest.raises(ConnectionLost) as info:
                transport.recv()
            assert answers.get(timeout=5.0)[0] == 0x8  # echoed all the same
        finally:
            transport.close()
            transport.release()
    message = str(info.value)
    assert info.value.retryable and "4000" in message and "overloaded" in message
    assert "\x1b" not in message and not transport.closed_normally


@pytest.mark.parametrize("payload", [
    struct.pack("!H", 999), struct.pack("!H", 1005), struct.pack("!H", 2000), b"\x03",
    struct.pack("!H", 1000) + b"\xff\xfe not utf-8"],
    ids=["code-999", "code-1005-on-the-wire", "code-2000", "one-byte", "reason-not-utf8"])
def test_an_invalid_close_payload_is_a_protocol_error(payload):
    answers: queue.Queue = queue.Queue()
    with HostileServer(_closes_with(payload, answers)) as server:
        transport = _opened(server)
        try:
            with pytest.raises(ProtocolError) as info:
                transport.recv()
        finally:
            transport.close()
            transport.release()
    assert info.value.exit_code == ExitCode.PROTOCOL and "\n" not in str(info.value)
    assert not transport.closed_normally and transport.close_code is None


def test_a_socket_that_ends_without_a_close_frame_is_a_drop():
    def handler(conn, server):
        handshake(conn, server)  # and the socket is closed when this returns

    with HostileServer(handler) as server:
        transport = _opened(server)
        try:
            with pytest.raises(ConnectionLost, match="dropped") as info:
                transport.recv()
        finally:
            transport.close()
            transport.release()
    assert info.value.retryable and not transport.closed_normally
    assert transport.close_code is None


def test_close_is_bounded_with_a_peer_that_never_reads_a_stuck_writer_and_a_reader():
    with HostileServer(never_reads) as server:
        transport = WebSocketTransport(server.url(), SECRET, io_timeout_s=120.0)
        transport.connect()
        reader, received = in_thread(transport.recv, "omnichat-test-recv")
        sender, sent = in_thread(lambda: transport.send(cev.user_text_message(BIG_TEXT)),
                                  "omnichat-test-send")
        assert server.backlogged.wait(30.0)  # the sender is stuck inside the big write
        closer, closed = in_thread(transport.close, "omnichat-test-close")
        closer.join(2.0)
        stuck = closer.is_alive()
        for thread in (closer, sender, reader):
            thread.join(5.0)
        transport.release()
    assert not stuck, "close() took longer than 2 s"
    assert closed == [None] and received == [None]
    assert isinstance(sent[0], ConnectionLost) and not sent[0].retryable
