"""Opening the socket against broken and hostile servers: redirects are never followed (the key
stays here), the handshake has one deadline and a size cap, every failure is one line that
names the URL but never the key, and says whether retrying can help."""

from __future__ import annotations

import logging

import pytest
from hostile_server import HostileServer, handshake, read_request, respond

from omnichat.errors import AuthFailed, ConfigError, ConnectFailed, ExitCode
from omnichat.transport import MAX_HEADER_LINES, WebSocketTransport
from omnichat.transport.target import is_loopback, parse_target

SECRET = "sk-test-secret-0123456789"


def _connect_error(url: str, **kwargs) -> ConnectFailed:
    transport = WebSocketTransport(url, SECRET, **kwargs)
    with pytest.raises(ConnectFailed) as info:
        transport.connect()
    error = info.value
    assert "\n" not in str(error) and SECRET not in str(error) and SECRET not in repr(transport)
    assert error.__cause__ is None or SECRET not in repr(error.__cause__)
    return error


def test_a_redirect_is_not_followed_and_the_key_stays_here():
    with HostileServer(read_request) as target:
        location = target.url("/steal")
        with HostileServer(respond("302 Found", f"Location: {location}")) as redirector:
            error = _connect_error(redirector.url())
            assert SECRET.encode() in redirector.requests[0]  # the real endpoint gets it
        assert target.connections == 0 and target.requests == []
    assert location in str(error) and "redirect" in str(error)
    assert error.exit_code == ExitCode.CONNECT and not error.retryable


def test_a_redirect_target_is_shown_printable_and_short():
    with HostileServer(respond("301 Moved", "Location: ws://x/\x1b[2J" + "a" * 5000)) as server:
        error = _connect_error(server.url())
    assert "\x1b" not in str(error) and len(str(error)) < 500


@pytest.mark.parametrize(("status", "retryable"), [
    ("500 Internal Server Error", True), ("503 Service Unavailable", True),
    ("429 Too Many Requests", True), ("404 Not Found", False), ("400 Bad Request", False)])
def test_status_answers_are_classified_for_retrying(status, retryable):
    with HostileServer(respond(status)) as server:
        error = _connect_error(server.url())
    assert status.split()[0] in str(error) and server.url() in str(error)
    assert error.retryable is retryable and not isinstance(error, AuthFailed)


@pytest.mark.parametrize("status", ["401 Unauthorized", "403 Forbidden"])
def test_a_refused_key_is_final(status):
    with HostileServer(respond(status)) as server:
        error = _connect_error(server.url(), region="intl", key_env="DASHSCOPE_API_KEY")
    assert isinstance(error, AuthFailed) and not error.retryable
    assert "intl" in str(error) and "DASHSCOPE_API_KEY" in str(error)


def _trickle(conn, server):
    """A 101 answer, one byte at a time, slower than any sane deadline (ends on close)."""
    read_request(conn, server)
    for byte in b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: " + b"a" * 10_000:
        if server.stop.wait(0.05):
            return
        server.send_counted(conn, bytes([byte]))


def test_a_trickled_handshake_ends_at_the_one_connect_deadline():
    with HostileServer(_trickle) as server:
        error = _connect_error(server.url(), connect_timeout_s=0.5)
    assert "timed out" in str(error) and error.retryable


def _endless_header(line: bytes):
    def handler(conn, server):
        read_request(conn, server)
        server.send_counted(conn, b"HTTP/1.1 101 Switching Protocols\r\n")
        block = line * (65536 // len(line))
        while not server.stop.is_set() and server.sent_bytes < 200_000_000:
            server.send_counted(conn, block)
    return handler


@pytest.mark.parametrize("line", [b"a", b"X-Filler: y\r\n"], ids=["200MB-line", "2M-lines"])
def test_an_endless_response_head_is_cut_at_the_cap(line):
    with HostileServer(_endless_header(line)) as server:
        error = _connect_error(server.url(), connect_timeout_s=30)
        sent = server.sent_bytes
    assert "64 KiB" in str(error) and not error.retryable
    assert sent < 50_000_000  # the client stopped reading long before the 200 MB


def test_too_many_header_lines_are_refused():
    lines = [f"X-Line-{n}: y" for n in range(MAX_HEADER_LINES + 1)]
    with HostileServer(respond("101 Switching Protocols", *lines)) as server:
        error = _connect_error(server.url())
    assert f"more than {MAX_HEADER_LINES} header lines" in str(error)


def test_a_101_without_a_valid_accept_is_refused():
    with HostileServer(respond("101 Switching Protocols", "Upgrade: websocket",
                               "Sec-WebSocket-Accept: wrong")) as server:
        error = _connect_error(server.url())
    assert "valid WebSocket upgrade" in str(error)


def test_plain_ws_to_a_remote_host_is_refused_without_touching_the_network():
    transport = WebSocketTransport("ws://dashscope.example.com/api-ws/v1/realtime", SECRET)
    with pytest.raises(ConfigError, match="--allow-insecure") as info:
        transport.connect()
    assert "\n" not in str(info.value) and SECRET not in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE and not info.value.retryable


def test_allow_insecure_and_loopback_permit_plain_ws():
    assert parse_target("ws://dashscope.example.com/x", allow_insecure=True).port == 80
    for host in ("127.0.0.1", "127.8.0.1", "localhost", "[::1]"):
        assert parse_target(f"ws://{host}:9/x?y=1", allow_insecure=False).resource == "/x?y=1"
    assert not is_loopback("127.0.0.1.example.com") and not is_loopback("10.0.0.1")


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "127.0.0.1:80", "ws://127.0.0.1:99999/"])
def test_a_url_that_is_not_websocket_is_a_config_error(url):
    with pytest.raises(ConfigError):
        WebSocketTransport(url, SECRET).connect()


def test_a_key_with_a_line_break_is_refused_before_it_can_inject_headers():
    with pytest.raises(ConfigError) as info:
        WebSocketTransport("ws://127.0.0.1:9/x", "sk-abc\r\nX-Evil: 1").connect()
    assert "sk-abc" not in str(info.value)


def test_the_key_stays_out_of_debug_logs(caplog):
    """websockets logs request headers and frames at DEBUG; not omnichat's connections."""
    caplog.set_level(logging.DEBUG)  # the root logger, as an embedding app might set it
    frame = b'\x81\x1b{"type":"session.finished"}'
    with HostileServer(lambda conn, server: (handshake(conn, server), conn.sendall(frame),
                                             server.stop.wait(10.0))) as server:
        transport = WebSocketTransport(server.url(), SECRET)
        transport.connect()
        try:
            assert transport.recv().type == "session.finished"
        finally:
            transport.close()
            transport.release()
    assert SECRET not in caplog.text and "session.finished" not in caplog.text
