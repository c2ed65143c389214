"""The transport between the real emulator and a fault proxy: a cut is a retryable
ConnectionLost, a stall is caught by the ping deadline, corruption is a ProtocolError."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest
from fault_proxy import FaultProxy

from omnichat.errors import ConnectionLost, ProtocolError
from omnichat.protocol import client as cev
from omnichat.transport import WebSocketTransport

MODEL = "qwen3.5-omni-plus-realtime"


class _Fake:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def proxied(emulator):
    """(proxy, transport, clock): the transport connected through the proxy to the emulator,
    its ping clock injected."""
    parts = urlsplit(emulator.url)
    with FaultProxy(parts.hostname, parts.port) as proxy:
        clock = _Fake()
        transport = WebSocketTransport(f"{proxy.url(emulator.url)}?model={MODEL}", None,
                                       clock=clock, ping_interval_s=15, io_timeout_s=10)
        transport.connect()
        try:
            assert transport.recv().type == "session.created"
            yield proxy, transport, clock
        finally:
            transport.close()
            transport.release()


def _reader(transport) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run():
        try:
            while (event := transport.recv()) is not None:
                outcome.append(event)
        except Exception as exc:  # the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=run, name="omnichat-test-recv")
    thread.start()
    return thread, outcome


def test_a_cut_mid_response_is_a_retryable_connection_lost(proxied):
    proxy, transport, clock = proxied
    transport.send(cev.user_text_message("Tell me a long story."))
    transport.send(cev.response_create())
    while transport.recv().type != "response.created":
        pass
    proxy.cut()
    with pytest.raises(ConnectionLost) as info:
        while transport.recv() is not None:
            pass
    assert info.value.retryable and "dropped" in str(info.value)


def test_a_stall_is_detected_by_the_ping_deadline(proxied):
    proxy, transport, clock = proxied
    proxy.stall()
    reader, outcome = _reader(transport)
    clock.now = 16.0
    transport.ping()  # sent into the stalled proxy: no pong will come
    clock.now = 26.5
    with pytest.raises(ConnectionLost, match="ping") as info:
        transport.ping()
    reader.join(10.0)
    assert not reader.is_alive() and info.value.retryable
    assert isinstance(outcome[-1], ConnectionLost) and outcome[-1].retryable


def test_a_ping_through_a_healthy_proxy_is_answered(proxied):
    _, transport, clock = proxied
    clock.now = 16.0
    transport.ping()
    transport.send(cev.session_update({"voice": "Tina"}))
    assert transport.recv().type == "session.updated"
    clock.now = 40.0
    transport.ping()  # answered before: no stall


def test_corruption_is_a_protocol_error(proxied):
    proxy, transport, clock = proxied
    proxy.inject(b"\xff\x00")  # reserved bits and an unknown opcode: not a valid frame
    with pytest.raises(ProtocolError, match="bad frame"):
        transport.recv()


def test_flipped_bytes_in_a_frame_are_a_protocol_error(proxied):
    proxy, transport, clock = proxied
    proxy.flip_next(1)  # the next frame's first byte: FIN and opcode turn into garbage
    transport.send(cev.session_update({"voice": "Tina"}))
    with pytest.raises(ProtocolError):
        transport.recv()
