"""Reading an HTTP response head from a socket, bounded in time, bytes and lines.

Shared by the WebSocket upgrade and the proxy's CONNECT answer: a head trickled a byte at a
time ends at the deadline, a 200 MB header line or millions of header lines at the caps.
"""

from __future__ import annotations

import socket
import time

from omnichat.errors import ConnectFailed

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_LINES = 100


def read_head(sock: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    buffer = bytearray()
    while True:
        sock.settimeout(remaining(deadline))
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectFailed("the server closed the connection during the handshake",
                                retryable=True)
        buffer += chunk
        end = buffer.find(b"\r\n\r\n")
        if 0 <= end <= MAX_HEADER_BYTES:
            return bytes(buffer[:end]), bytes(buffer[end + 4:])
        if len(buffer) > MAX_HEADER_BYTES:
            raise ConnectFailed(f"the server's handshake response is larger than "
                                f"{MAX_HEADER_BYTES // 1024} KiB")


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    if len(lines) > MAX_HEADER_LINES:
        raise ConnectFailed(f"the server's handshake response has more than "
                            f"{MAX_HEADER_LINES} header lines")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ConnectFailed("the server did not answer with HTTP")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the connect deadline passed")
    return left
