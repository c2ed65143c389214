"""A scriptable loopback TCP server that plays a broken or hostile WebSocket server.

``HostileServer(handler)`` listens on 127.0.0.1 and runs ``handler(conn, server)`` for each
connection on its own thread (``omnichat-test-hostile``); ``server.stop`` is set by
``close()``, which shuts every socket down and joins every thread, so a handler that waits
on ``server.stop`` always ends. The helpers below read the client's upgrade request and write
handshake answers and raw server frames.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import socket
import struct
import termios
import threading
from collections.abc import Callable

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_REQUEST_BYTES = 64 * 1024


class HostileServer:
    """Accepts connections and hands each to ``handler``; records their request heads."""

    def __init__(self, handler: Callable[[socket.socket, HostileServer], None]) -> None:
        self.handler = handler
        self.stop = threading.Event()  # set by close(): handlers must end soon after
        self.requests: list[bytes] = []  # request heads read by read_request, in order
        self.connections = 0
        self.sent_bytes = 0  # what handlers report having written (see send_counted)
        self.backlogged = threading.Event()  # set by wait_backlog once data piles up unread
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept_loop, name="omnichat-test-hostile")
        self._accepter.start()

    def url(self, path: str = "/api-ws/v1/realtime?model=m", scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accept_loop(self) -> None:
        """Blocks in accept(); unblocked by close() shutting the listener down."""
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,),
                                      name="omnichat-test-hostile-conn")
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10.0)
            self.handler(conn, self)
        except OSError:
            pass  # the client went away: that is what most tests want
        finally:
            conn.close()

    def send_counted(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent_bytes += len(data)

    def wait_backlog(self, conn: socket.socket, threshold_bytes: int) -> None:
        """Never read; set ``backlogged`` once ``threshold_bytes`` wait unread in the socket."""
        while not self.stop.wait(0.01):
            if unread_bytes(conn) >= threshold_bytes:
                self.backlogged.set()

    def close(self) -> None:
        self.stop.set()
        for sock in [self._listener, *self._conns]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._accepter.join(10.0)
        for thread in self._threads:
            thread.join(10.0)
        self._listener.close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unread_bytes(conn: socket.socket) -> int:
    return struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.FIONREAD, b"\0" * 4))[0]


def read_request(conn: socket.socket, server: HostileServer) -> bytes:
    """The client's request head (without the blank line); recorded in ``server.requests``."""
    buffer = b""
    while b"\r\n\r\n" not in buffer and len(buffer) < _MAX_REQUEST_BYTES:
        chunk = conn.recv(4096)
        if not chunk:
            break
        buffer += chunk
    head = buffer.split(b"\r\n\r\n", 1)[0]
    server.requests.append(head)
    return head


def accept_101(request: bytes) -> bytes:
    """A valid 101 Switching Protocols answer to ``request``."""
    key = ""
    for line in request.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode()


def handshake(conn: socket.socket, server: HostileServer) -> None:
    conn.sendall(accept_101(read_request(conn, server)))


def frame_header(opcode: int, length: int, fin: bool = True) -> bytes:
    """An unmasked server frame header announcing ``length`` payload bytes."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def text_frame(text: str, fin: bool = True, opcode: int = 0x1) -> bytes:
    payload = text.encode("utf-8")
    return frame_header(opcode, len(payload), fin) + payload


def respond(status_line: str, *headers: str) -> Callable[[socket.socket, HostileServer], None]:
    """A handler that reads the request and answers with a plain HTTP status."""

    def handler(conn: socket.socket, server: HostileServer) -> None:
        read_request(conn, server)
        head = "\r\n".join([f"HTTP/1.1 {status_line}", *headers, "Content-Length: 0"])
        conn.sendall((head + "\r\n\r\n").encode("latin-1"))

    return handler


def close_frame(payload: bytes) -> bytes:
    """An unmasked server close frame carrying ``payload`` (code and reason, or anything)."""
    return frame_header(0x8, len(payload)) + payload


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError("the client closed the socket")
        data += chunk
    return data


def read_client_frame(conn: socket.socket) -> tuple[int, bytes]:
    """(opcode, unmasked payload) of the next frame the client sent; EOFError at its end."""
    first, second = _read_exact(conn, 2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", _read_exact(conn, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _read_exact(conn, 8))[0]
    key = _read_exact(conn, 4) if second & 0x80 else b"\0\0\0\0"
    payload = _read_exact(conn, size)
    return first & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def in_thread(target: Callable[[], object], name: str) -> tuple[threading.Thread, list]:
    """Run ``target`` on a thread; the list gets its result or the exception it raised."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(target())
        except Exception as exc:  # the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread, outcome


def never_reads(conn: socket.socket, server: HostileServer) -> None:
    """A server that completes the handshake, then stops reading: writes back up."""
    handshake(conn, server)
    server.wait_backlog(conn, 32 * 1024)
