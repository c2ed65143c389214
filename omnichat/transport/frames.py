"""RFC 6455 frames as pure functions and one bounded reader; no sockets of its own.

``encode_frame`` builds a masked client frame. ``FrameReader`` pulls bytes through the
``recv`` callable it is given and returns whole frames. It checks the length announced in a
frame header against ``max_frame_bytes`` *before* reading the payload, so a peer announcing
2^62 bytes costs nothing; it never consumes a partial frame, so a read that times out (the
socket's deadline) can simply be retried. ``MessageAssembler`` joins fragmented messages
under the same cap.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from omnichat.errors import ProtocolError

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPS = (OP_CONT, OP_TEXT, OP_BINARY)
_CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)
#: The biggest message accepted from the server. The service's frames are small (an audio
#: delta is about 20 KB); anything near this is a broken or hostile peer.
MAX_FRAME_BYTES = 4 * 1024 * 1024
_RECV_CHUNK_BYTES = 64 * 1024


class PeerClosed(Exception):
    """The byte stream ended (EOF): the socket was closed or shut down."""


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes


def mask(key: bytes, data: bytes) -> bytes:
    """XOR ``data`` with the repeating 4-byte ``key`` (one big-integer XOR, no Python loop)."""
    if not data:
        return b""
    size = len(data)
    stream = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        size, "little")


def encode_frame(opcode: int, payload: bytes, mask_key: bytes) -> bytes:
    """One final, masked client frame (clients must mask, RFC 6455 §5.3)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return header + mask_key + mask(mask_key, payload)


def close_payload(code: int) -> bytes:
    return struct.pack("!H", code)


class FrameReader:
    """Whole frames from a byte stream, at most ``max_frame_bytes`` each.

    Owned by the one reader thread. ``recv(n)`` returns up to n bytes, b"" at EOF, and may
    raise (a timeout): the buffer keeps what arrived and the next ``read_frame`` resumes.
    """

    def __init__(self, recv: Callable[[int], bytes], initial: bytes = b"",
                 max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._recv = recv
        self._buffer = bytearray(initial)  # at most one frame plus one chunk
        self._max = max_frame_bytes

    def read_frame(self) -> Frame:
        self._fill(2)
        first, second = self._buffer[0], self._buffer[1]
        if first & 0x70:
            raise ProtocolError("a frame uses a WebSocket extension that was not negotiated")
        if second & 0x80:
            raise ProtocolError("the server sent a masked frame (servers must not mask)")
        opcode, fin = first & 0x0F, bool(first & 0x80)
        if opcode not in _DATA_OPS + _CONTROL_OPS:
            raise ProtocolError(f"a frame has the unknown opcode {opcode}")
        offset, size = self._length(second & 0x7F)
        if opcode in _CONTROL_OPS and (size > 125 or not fin):
            raise ProtocolError("a control frame is fragmented or longer than 125 bytes")
        if size > self._max:
            raise ProtocolError(f"a frame announces {size} bytes, over the "
                                f"{self._max // 1024} KiB limit")
        self._fill(offset + size)
        payload = bytes(self._buffer[offset:offset + size])
        del self._buffer[:offset + size]
        return Frame(fin, opcode, payload)

    def _length(self, short: int) -> tuple[int, int]:
        """(header size, payload size) from the 7-bit length and what follows it."""
        if short < 126:
            return 2, short
        if short == 126:
            self._fill(4)
            return 4, struct.unpack_from("!H", self._buffer, 2)[0]
        self._fill(10)
        return 10, struct.unpack_from("!Q", self._buffer, 2)[0]

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            chunk = self._recv(_RECV_CHUNK_BYTES)
            if not chunk:
                raise PeerClosed()
            self._buffer += chunk


class MessageAssembler:
    """Joins a fragmented text or binary message; the whole message obeys the frame cap."""

    def __init__(self, max_message_bytes: int = MAX_FRAME_BYTES) -> None:
        self._max = max_message_bytes
        self._opcode: int | None = None
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, frame: Frame) -> tuple[int, bytes] | None:
        """(opcode, payload) once a message is complete, else None."""
        if frame.opcode == OP_CONT and self._opcode is None:
            raise ProtocolError("a continuation frame arrived with no message to continue")
        if frame.opcode != OP_CONT and self._opcode is not None:
            raise ProtocolError("a new message started before the last one was finished")
        opcode = frame.opcode if self._opcode is None else self._opcode
        self._opcode = opcode
        self._size += len(frame.payload)
        if self._size > self._max:
            raise ProtocolError(f"a fragmented message exceeds the {self._max // 1024} KiB limit")
        self._parts.append(frame.payload)
        if not frame.fin:
            return None
        payload = b"".join(self._parts)
        self._opcode, self._parts, self._size = None, [], 0
        return opcode, payload
