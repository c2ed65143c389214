"""omnichat's own bounded socket I/O, under websockets' Sans-I/O protocol.

websockets parses and builds bytes; this module moves them, and nothing here waits without
a deadline. Once open, the socket is non-blocking and every wait is a ``poll`` with a
timeout: ``send_all`` gives up on a write the peer does not accept in time (websockets' own
sync client has no deadline on ``sendall``), ``wait_readable`` waits for the socket or a
wake-up, ``recv_some`` never blocks (not even on half a TLS record). ``read_head`` reads an
HTTP response head (the upgrade's or a proxy's) under the connect deadline and two caps, in
bytes and lines, before websockets' parser sees it.
Plain functions on the caller's thread; ``docs/security.md`` lists the bounds.
"""

from __future__ import annotations

import select
import socket
import ssl
import time

from websockets.exceptions import SecurityError
from websockets.http11 import Response
from websockets.streams import StreamReader

from omnichat.errors import ConnectFailed
from omnichat.transport.status import printable

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_LINES = 100
_END_OF_HEAD = b"\r\n\r\n"
_READ_BYTES = 64 * 1024
_WRITE_BYTES = 64 * 1024


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline`` (time.monotonic); TimeoutError once it passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline passed")
    return left


def _ready(sock: socket.socket, timeout_s: float, *, write: bool,
           wake: socket.socket | None = None) -> list[int]:
    """The fds among ``sock`` (and ``wake``) ready within ``timeout_s``; [] on timeout."""
    mask = select.POLLOUT if write else select.POLLIN
    poller = select.poll()
    poller.register(sock.fileno(), mask)
    if wake is not None:
        poller.register(wake.fileno(), select.POLLIN)
    return [fd for fd, _ in poller.poll(max(0.0, timeout_s) * 1000.0)]


#: What a non-blocking socket raises when it must wait (TLS may need to read to write).
_MUST_WAIT = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def send_all(sock: socket.socket, data: bytes, timeout_s: float) -> None:
    """Write all of ``data`` within ``timeout_s`` or raise TimeoutError.

    Made for a non-blocking socket: a piece the socket cannot take now waits for it with
    ``poll``, up to the deadline. Another thread shutting the socket down fails this write
    at once (OSError).
    """
    deadline = time.monotonic() + timeout_s
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view[:_WRITE_BYTES]):]
        except _MUST_WAIT:
            if not _ready(sock, remaining(deadline), write=True):
                raise TimeoutError("the peer stopped accepting data") from None


def wait_readable(sock: socket.socket, wake: socket.socket, timeout_s: float) -> bool:
    """Wait until ``sock`` has data (True) or ``wake`` was written to or time ran out (False).

    TLS may hold decrypted bytes the kernel no longer shows, so those count as data.
    """
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    return sock.fileno() in _ready(sock, timeout_s, write=False, wake=wake)


def recv_some(sock: socket.socket, size: int) -> bytes | None:
    """Up to ``size`` bytes from a non-blocking socket; None when none can be had yet
    (a TLS record not complete), b"" at its end."""
    try:
        return sock.recv(size)
    except _MUST_WAIT:
        return None


def read_head(sock: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    """(the response head with its blank line, the bytes after it), read before
    ``deadline`` and refused past ``MAX_HEADER_BYTES`` or ``MAX_HEADER_LINES``."""
    buffer = bytearray()
    while True:
        sock.settimeout(remaining(deadline))
        chunk = sock.recv(_READ_BYTES)
        if not chunk:
            raise ConnectFailed("the server closed the connection during the handshake",
                                retryable=True)
        buffer += chunk
        end = buffer.find(_END_OF_HEAD)
        if 0 <= end <= MAX_HEADER_BYTES:
            end += len(_END_OF_HEAD)
            head = bytes(buffer[:end])
            if head.count(b"\r\n") - 2 > MAX_HEADER_LINES:
                raise ConnectFailed(f"the server's handshake response has more than "
                                    f"{MAX_HEADER_LINES} header lines")
            return head, bytes(buffer[end:])
        if len(buffer) > MAX_HEADER_BYTES:
            raise ConnectFailed(f"the server's handshake response is larger than "
                                f"{MAX_HEADER_BYTES // 1024} KiB")


def parse_head(head: bytes) -> Response:
    """The status and headers of a complete response head, parsed by websockets (its
    CONNECT mode: the head alone, no body awaited). Not HTTP: one-line ConnectFailed."""
    reader = StreamReader()
    reader.feed_data(head)
    reader.feed_eof()
    parser = Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof,
                            proxy=True)
    try:
        next(parser)
    except StopIteration as done:
        response: Response = done.value
        return response
    except SecurityError as exc:  # a header line over websockets' own 8 KiB cap
        raise ConnectFailed(f"the server's handshake response is refused ({printable(str(exc))})"
                            ) from None
    except (EOFError, LookupError, ValueError, NotImplementedError) as exc:
        raise ConnectFailed(f"the server did not answer with valid HTTP ({printable(str(exc))})"
                            ) from None
    raise ConnectFailed("the server's handshake response is incomplete")  # pragma: no cover
