"""Traffic on an open socket against hostile servers: a server that stops reading cannot hang a
send or close(), a frame announcing gigabytes is refused from its header, wrongly typed fields
are ProtocolErrors, and an unanswered ping marks a silent peer as dead."""

from __future__ import annotations

import pytest
from hostile_server import (
    HostileServer,
    frame_header,
    handshake,
    in_thread,
    never_reads,
    text_frame,
)

from omnichat.errors import ConnectionLost, ExitCode, ProtocolError
from omnichat.protocol import client as cev
from omnichat.transport import MAX_FRAME_BYTES, WebSocketTransport

SECRET = "sk-test-secret-0123456789"
BIG_TEXT = "x" * (16 * 1024 * 1024)  # far more than any socket buffer holds


class _Fake:
    """An injected monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _open(server: HostileServer, **kwargs) -> WebSocketTransport:
    transport = WebSocketTransport(server.url(), SECRET, **kwargs)
    transport.connect()
    return transport


def test_a_send_the_server_never_reads_times_out_as_connection_lost():
    with HostileServer(never_reads) as server:
        transport = _open(server, io_timeout_s=0.3)
        sender, outcome = in_thread(
            lambda: transport.send(cev.user_text_message(BIG_TEXT)), "omnichat-test-send")
        sender.join(30.0)
        assert not sender.is_alive(), "send() is stuck with no deadline"
        transport.release()
    assert isinstance(outcome[0], ConnectionLost) and outcome[0].retryable
    assert "stopped accepting data" in str(outcome[0]) and SECRET not in str(outcome[0])


def test_close_completes_while_another_thread_is_stuck_in_a_send():
    with HostileServer(never_reads) as server:
        transport = _open(server, io_timeout_s=120.0)  # the send alone would block for long
        sender, sent = in_thread(
            lambda: transport.send(cev.user_text_message(BIG_TEXT)), "omnichat-test-send")
        assert server.backlogged.wait(30.0)  # the sender is inside the big write now
        closer, closed = in_thread(transport.close, "omnichat-test-close")
        closer.join(30.0)
        assert not closer.is_alive(), "close() waits forever on the stuck sender"
        sender.join(30.0)
        assert not sender.is_alive()
        transport.release()
    assert closed == [None] and isinstance(sent[0], ConnectionLost)


def _sends(*chunks: bytes):
    def handler(conn, server):
        handshake(conn, server)
        for chunk in chunks:
            server.send_counted(conn, chunk)
        server.stop.wait(30.0)
    return handler


def _recv_error(handler, **kwargs) -> Exception:
    with HostileServer(handler) as server:
        transport = _open(server, **kwargs)
        try:
            with pytest.raises((ProtocolError, ConnectionLost)) as info:
                transport.recv()
        finally:
            transport.close()
            transport.release()
    assert "\n" not in str(info.value) and SECRET not in str(info.value)
    return info.value


def test_a_frame_announcing_2_62_bytes_is_refused_from_its_header():
    error = _recv_error(_sends(frame_header(0x1, 2 ** 62)))
    assert isinstance(error, ProtocolError) and error.exit_code == ExitCode.PROTOCOL
    assert "limit" in str(error) and str(2 ** 62) in str(error)


def _huge_delta(conn, server):
    handshake(conn, server)
    size = 500 * 1024 * 1024
    server.send_counted(conn, frame_header(0x1, size) + b'{"type":"response.audio.delta",')
    block = b"A" * 65536
    while not server.stop.is_set() and server.sent_bytes < size:
        server.send_counted(conn, block)


def test_a_500_mb_delta_is_a_one_line_protocol_error():
    error = _recv_error(_huge_delta)
    assert isinstance(error, ProtocolError) and f"{MAX_FRAME_BYTES // 1024} KiB" in str(error)


def test_a_fragmented_message_over_the_cap_is_refused():
    part = "y" * (1024 * 1024)
    chunks = [text_frame(part, fin=False)] + [text_frame(part, fin=False, opcode=0)] * 5
    error = _recv_error(_sends(*chunks))
    assert isinstance(error, ProtocolError) and "fragmented" in str(error)


def test_fragments_within_the_cap_are_joined():
    frame = '{"type":"session.finished","event_id":"e1"}'
    chunks = [text_frame(frame[:10], fin=False), frame_header(0x9, 0),
              text_frame(frame[10:], opcode=0)]
    with HostileServer(_sends(*chunks)) as server:
        transport = _open(server)
        try:
            assert transport.recv().type == "session.finished"
        finally:
            transport.close()
            transport.release()


@pytest.mark.parametrize("frame", [
    '{"type":"response.audio.delta","response_id":["r"],"item_id":"i","delta":""}',
    '{"type":"input_audio_buffer.speech_stopped","audio_end_ms":"120","item_id":"i"}',
])
def test_a_wrongly_typed_field_is_a_protocol_error_not_a_traceback(frame):
    error = _recv_error(_sends(text_frame(frame)))
    assert isinstance(error, ProtocolError) and error.exit_code == ExitCode.PROTOCOL


@pytest.mark.parametrize("chunk", [b"\xff\x00", b"\x81\x85abcd12345", b"\x82\x02ab"],
                         ids=["reserved-bits", "masked", "binary"])
def test_frames_a_server_must_not_send_are_protocol_errors(chunk):
    assert isinstance(_recv_error(_sends(chunk)), ProtocolError)


def _silent(conn, server):
    """Completes the handshake, reads and drops everything, never sends (no pong)."""
    handshake(conn, server)
    while not server.stop.is_set() and conn.recv(65536):
        pass


def test_an_unanswered_ping_marks_the_peer_dead_in_ping_and_recv():
    clock = _Fake()
    with HostileServer(_silent) as server:
        transport = _open(server, clock=clock, ping_interval_s=15, io_timeout_s=10)
        transport.ping()  # nothing to do yet: a frame (the handshake) is recent
        clock.now = 16.0
        transport.ping()  # sends the ping
        reader, received = in_thread(transport.recv, "omnichat-test-recv")
        clock.now = 26.5
        with pytest.raises(ConnectionLost, match="ping") as info:
            transport.ping()
        reader.join(30.0)
        transport.release()
    assert info.value.retryable and isinstance(received[0], ConnectionLost)
    assert "ping" in str(received[0])


def test_a_pong_or_any_frame_answers_the_ping(emulator):
    clock = _Fake()
    url = f"{emulator.url}?model=qwen3.5-omni-plus-realtime"
    transport = WebSocketTransport(url, None, clock=clock, ping_interval_s=15, io_timeout_s=10)
    transport.connect()
    try:
        assert transport.recv().type == "session.created"
        clock.now = 20.0
        transport.ping()
        clock.now = 25.0
        transport.send(cev.session_update({"voice": "Tina"}))
        assert transport.recv().type == "session.updated"  # the pong came before it
        assert transport.last_frame_at == 25.0
        clock.now = 100.0
        transport.ping()  # a new ping, not a stall: the last one was answered
    finally:
        transport.close()
        transport.release()


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_every_length_encoding_arrives_whole_however_the_bytes_are_split(size):
    text = '{"type":"session.finished","pad":"' + "z" * size + '"}'
    data = text_frame(text) + frame_header(0xA, 0) + text_frame('{"type":"session.finished"}')
    pieces = [data[i:i + 7] for i in range(0, 70, 7)] + [data[70:]]

    def handler(conn, server):
        handshake(conn, server)
        for piece in pieces:
            conn.sendall(piece)
        server.stop.wait(30.0)

    with HostileServer(handler) as server:
        transport = _open(server)
        try:
            first = transport.recv()
            assert first.type == "session.finished" and len(first.get("pad")) == size
            assert transport.recv().type == "session.finished"  # the pong was skipped
        finally:
            transport.close()
            transport.release()
