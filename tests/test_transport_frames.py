"""RFC 6455 framing without a socket: our client frames parse with an independent
implementation (websocket-client's), and the reader handles every length encoding, split
reads and timeouts mid-frame."""

from __future__ import annotations

import pytest
from hostile_server import frame_header
from websocket import ABNF

from omnichat.errors import ProtocolError
from omnichat.transport import frames as wsf


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_client_frames_parse_with_an_independent_implementation(size):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    key = b"\x01\x7f\x80\xff"
    frame = wsf.encode_frame(wsf.OP_TEXT, payload, key)
    reference = ABNF.create_frame(payload, ABNF.OPCODE_TEXT)
    reference.get_mask_key = lambda _: key
    assert frame == reference.format()
    assert wsf.mask(key, wsf.mask(key, payload)) == payload


class _Chunks:
    """A recv() that hands out the given chunks; a None raises TimeoutError once."""

    def __init__(self, *chunks: bytes | None) -> None:
        self.chunks = list(chunks)

    def __call__(self, size: int) -> bytes:
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if chunk is None:
            raise TimeoutError()
        return chunk


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_the_reader_handles_every_length_encoding_split_anywhere(size):
    data = frame_header(wsf.OP_TEXT, size) + b"z" * size + frame_header(wsf.OP_PONG, 0)
    chunks = [data[i:i + 7] for i in range(0, min(len(data), 70), 7)] + [data[70:]]
    reader = wsf.FrameReader(_Chunks(*chunks))
    assert reader.read_frame() == wsf.Frame(True, wsf.OP_TEXT, b"z" * size)
    assert reader.read_frame().opcode == wsf.OP_PONG
    with pytest.raises(wsf.PeerClosed):
        reader.read_frame()


def test_a_timeout_mid_frame_loses_nothing():
    data = frame_header(wsf.OP_TEXT, 300) + b"q" * 300
    reader = wsf.FrameReader(_Chunks(data[:1], None, data[1:5], None, data[5:]))
    for _ in range(2):
        with pytest.raises(TimeoutError):
            reader.read_frame()
    assert reader.read_frame().payload == b"q" * 300


def test_the_bytes_after_the_handshake_are_the_first_frame():
    reader = wsf.FrameReader(_Chunks(), initial=frame_header(wsf.OP_TEXT, 2) + b"hi")
    assert reader.read_frame().payload == b"hi"


@pytest.mark.parametrize(("data", "match"), [
    (frame_header(wsf.OP_TEXT, 11, fin=True)[:1] + b"\x7f" + (2 ** 40).to_bytes(8, "big"),
     "limit"),
    (frame_header(wsf.OP_PING, 126), "control frame"),
    (frame_header(wsf.OP_PING, 0, fin=False), "control frame"),
    (b"\x83\x00", "opcode"),
])
def test_the_reader_refuses_bad_headers_before_any_payload(data, match):
    with pytest.raises(ProtocolError, match=match):
        wsf.FrameReader(_Chunks(data)).read_frame()


def test_messages_are_assembled_under_the_cap():
    messages = wsf.MessageAssembler(max_message_bytes=10)
    assert messages.add(wsf.Frame(False, wsf.OP_TEXT, b"abc")) is None
    assert messages.add(wsf.Frame(True, wsf.OP_CONT, b"def")) == (wsf.OP_TEXT, b"abcdef")
    with pytest.raises(ProtocolError, match="continuation"):
        messages.add(wsf.Frame(True, wsf.OP_CONT, b"x"))
    messages.add(wsf.Frame(False, wsf.OP_TEXT, b"123456"))
    with pytest.raises(ProtocolError, match="exceeds"):
        messages.add(wsf.Frame(False, wsf.OP_CONT, b"78901"))
