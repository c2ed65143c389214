"""The WebSocket transport against the emulator: handshake errors, traffic, and closing
while another thread is blocked in recv."""

from __future__ import annotations

import socket
import threading

import pytest

from omnichat.errors import AuthFailed, ConnectFailed, ConnectionLost
from omnichat.protocol import client as cev
from omnichat.transport import WebSocketTransport

MODEL = "qwen3.5-omni-plus-realtime"
SECRET = "sk-test-secret-0123456789"


def _url(emu) -> str:
    return f"{emu.url}?model={MODEL}"


def test_send_and_receive_typed_events(emulator):
    transport = WebSocketTransport(_url(emulator), None)
    transport.connect()
    try:
        assert transport.recv().type == "session.created"
        transport.send(cev.session_update({"voice": "Tina"}))
        assert transport.recv().type == "session.updated"
    finally:
        transport.close()
        transport.release()


def test_401_names_the_region_and_variable_but_never_the_key(make_emulator):
    emu = make_emulator(api_key="the-right-key")
    transport = WebSocketTransport(_url(emu), SECRET, region="intl", key_env="DASHSCOPE_API_KEY")
    with pytest.raises(AuthFailed) as info:
        transport.connect()
    message = str(info.value)
    assert "401" in message and "intl" in message and "DASHSCOPE_API_KEY" in message
    assert SECRET not in message and SECRET not in repr(info.value.__cause__)
    assert info.value.exit_code == 5 and not info.value.retryable
    assert SECRET not in repr(transport)


def test_refused_names_the_url():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/api-ws/v1/realtime?model={MODEL}"
    with pytest.raises(ConnectFailed, match="refused") as info:
        WebSocketTransport(url, SECRET).connect()
    assert url in str(info.value) and SECRET not in str(info.value)
    assert not isinstance(info.value, AuthFailed) and info.value.retryable


def test_close_unblocks_a_reader_and_sends_1000(emulator):
    transport = WebSocketTransport(_url(emulator), None)
    transport.connect()
    assert transport.recv().type == "session.created"
    returned = threading.Event()
    results: list = []

    def reader():
        results.append(transport.recv())  # blocks: the server has nothing more to say
        returned.set()

    thread = threading.Thread(target=reader, name="omnichat-test-reader")
    thread.start()
    transport.close()
    assert returned.wait(5.0)
    thread.join(5.0)
    transport.release()
    assert results == [None]
    session = emulator.wait_for_session()
    assert session.wait_closed(5.0) and session.connection.close_code == 1000
    with pytest.raises(ConnectionLost):
        transport.send(cev.input_audio_commit())


def test_server_close_is_connection_lost(make_emulator):
    emu = make_emulator()
    emu.faults.close_after_events(1, code=1011, reason="going away")
    transport = WebSocketTransport(_url(emu), None)
    transport.connect()
    try:
        assert transport.recv().type == "session.created"
        transport.send(cev.session_update({"voice": "Tina"}))  # answered, then closed
        with pytest.raises(ConnectionLost, match="1011") as info:
            while transport.recv() is not None:
                pass
        assert info.value.retryable
    finally:
        transport.close()
        transport.release()
