"""``WebSocketTransport``: the real socket to the service, every read and write bounded.

Threads and what they own:
- any thread may ``send`` or ``ping``; ``_send_lock`` serialises whole frames. A write that
  the peer does not accept within ``io_timeout_s`` (it stopped reading) cuts the socket and
  raises ``ConnectionLost``, so the lock is never held longer than that.
- exactly one thread (the engine's receiver) calls ``recv``. It blocks in ``socket.recv``
  for at most ``io_timeout_s`` at a time, then checks the ping deadline and reads on; it is
  unblocked for good by a frame, the peer's EOF, or ``close``/a failed write shutting the
  socket down.
- ``close`` may be called from any other thread, also while a sender is stuck in a write:
  it waits a bounded time for the send lock, sends the close frame if it got it, waits
  briefly for the peer's echo, then shuts the socket down (which fails the stuck write and
  wakes the reader). ``release`` frees the descriptor after the reader has been joined.

Every failure is translated into the omnichat tree with the URL, never the key, and carries
``retryable`` (a drop or timeout may be retried; a redirect, refused key or TLS error not).
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable

from omnichat.errors import ConnectFailed, ConnectionLost, ProtocolError
from omnichat.protocol.events import Event, decode, encode
from omnichat.transport import frames as wsf
from omnichat.transport.base import CLOSE_NORMAL
from omnichat.transport.handshake import check_key, open_socket, upgrade
from omnichat.transport.status import reason, status_error
from omnichat.transport.target import Target, parse_target

CONNECT_TIMEOUT_S = 10.0
#: Deadline for every socket write, and for a pong (or any frame) after a ping.
IO_TIMEOUT_S = 10.0
#: ``ping()`` sends a ping when nothing arrived for this long.
PING_INTERVAL_S = 15.0
#: The reader checks a probe's deadline this often while nothing arrives.
READ_SLICE_S = 0.1
# close() waits this long for the send lock and again for the peer's close echo.
CLOSE_WAIT_S = 1.0


class WebSocketTransport:
    """A DashScope realtime socket: Bearer auth on the upgrade, JSON text frames both ways."""

    def __init__(self, url: str, api_key: str | None, *, region: str = "", key_env: str = "",
                 connect_timeout_s: float = CONNECT_TIMEOUT_S, allow_insecure: bool = False,
                 io_timeout_s: float = IO_TIMEOUT_S, ping_interval_s: float = PING_INTERVAL_S,
                 max_frame_bytes: int = wsf.MAX_FRAME_BYTES,
                 ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self._api_key = api_key  # never logged, never part of an error message or repr
        self._region, self._key_env = region, key_env
        self._connect_timeout_s, self._allow_insecure = connect_timeout_s, allow_insecure
        self._io_timeout_s, self._ping_interval_s = io_timeout_s, ping_interval_s
        self._max_frame_bytes, self._ssl_context, self._clock = (
            max_frame_bytes, ssl_context, clock)
        self._sock: socket.socket | None = None
        self._reader: wsf.FrameReader | None = None
        self._messages = wsf.MessageAssembler(max_frame_bytes)  # owned by the reader
        self._send_lock = threading.Lock()  # one frame at a time on the wire
        self._close_sent = False  # guarded by _send_lock: only one close frame ever
        self._closing = threading.Event()  # set by close(): a dropped socket is then expected
        self._peer_closed = threading.Event()  # set by the reader when the socket ends
        self._stalled = False  # set when a ping went unanswered: recv reports why
        self._reading = threading.Event()  # set while the reader is inside recv()
        self._ping_sent_at: float | None = None  # an unanswered ping, if any
        self._probe_deadline: float | None = None  # probe(): a frame must arrive by then
        self._opening: socket.socket | None = None  # the socket connect() is upgrading
        self.last_frame_at: float = clock()  # when any frame (data, ping, pong) last arrived
        self.close_code: int | None = None  # the code the peer closed with, if it did

    def __repr__(self) -> str:
        return f"WebSocketTransport({self.url!r})"

    # ---- open -----------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the socket and upgrade it, all within ``connect_timeout_s``."""
        target = parse_target(self.url, self._allow_insecure)
        check_key(self._api_key)
        deadline = time.monotonic() + self._connect_timeout_s
        sock = self._open(target, deadline)
        self._opening = sock  # close() from another thread cuts a handshake that hangs
        try:
            if self._closing.is_set():
                raise ConnectFailed("the connection was closed while it was being opened",
                                    retryable=False)
            response = upgrade(sock, target, self._api_key, deadline)
        except BaseException as exc:
            sock.close()
            raise self._connect_error(exc) from None
        finally:
            self._opening = None
        if response.status != 101:
            sock.close()
            raise status_error(response, self.url, self._region, self._key_env)
        sock.settimeout(self._io_timeout_s)  # every later read and write has this deadline
        self._sock = sock
        self._reader = wsf.FrameReader(self._recv_bytes, response.rest, self._max_frame_bytes)
        self.last_frame_at = self._clock()

    def _open(self, target: Target, deadline: float) -> socket.socket:
        try:
            return open_socket(target, deadline, self._ssl_context)
        except BaseException as exc:
            raise self._connect_error(exc) from None

    def _connect_error(self, exc: BaseException) -> BaseException:
        """The one-line ConnectFailed for ``exc`` (other exceptions pass through)."""
        if isinstance(exc, ConnectFailed):
            return ConnectFailed(f"cannot connect to {self.url}: {exc}",
                                 retryable=exc.retryable)
        if isinstance(exc, OSError):
            text, retryable = reason(exc, self._connect_timeout_s)
            return ConnectFailed(f"cannot connect to {self.url}: {text}", retryable=retryable)
        return exc

    # ---- traffic --------------------------------------------------------------------------

    def send(self, event: Event) -> None:
        if self._closing.is_set():
            raise ConnectionLost(f"the connection to {self.url} is closed", retryable=False)
        self._send_frame(wsf.OP_TEXT, encode(event).encode("utf-8"))

    def ping(self) -> None:
        """Keep-alive, to be called regularly (e.g. by the sender when idle).

        Sends a ping once nothing has arrived for ``ping_interval_s``; if a ping stays
        unanswered (no pong, no frame at all) for ``io_timeout_s``, the peer is taken for
        dead: the socket is cut and ``ConnectionLost`` (retryable) raised here, and the
        blocked reader raises the same.
        """
        now = self._clock()
        sent_at = self._ping_sent_at
        if sent_at is not None:
            if now - sent_at >= self._io_timeout_s:
                self._stalled = True
                self._cut()
                raise self._stall_error()
            return
        if now - self.last_frame_at >= self._ping_interval_s:
            self._ping_sent_at = now
            self._send_frame(wsf.OP_PING, b"omnichat")

    def probe(self, timeout_s: float) -> None:
        """Send a ping now (unless one is outstanding); if no frame at all arrives within
        ``timeout_s``, the link is dead: the blocked reader cuts the socket and raises a
        retryable ``ConnectionLost``. A live service answers pings even while its model is
        busy, so a slow reply is never taken for a dead link (docs/reliability.md)."""
        now = self._clock()
        deadline = now + timeout_s
        if self._probe_deadline is None or deadline < self._probe_deadline:
            self._probe_deadline = deadline
        if self._ping_sent_at is None:
            self._ping_sent_at = now
            self._send_frame(wsf.OP_PING, b"omnichat")

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise ConnectionLost(f"the connection to {self.url} is not open", retryable=False)
        data = wsf.encode_frame(opcode, payload, os.urandom(4))
        if not self._send_lock.acquire(timeout=self._io_timeout_s):
            self._cut()
            raise self._write_error(TimeoutError())
        try:
            sock.sendall(data)  # bounded by the socket timeout (io_timeout_s)
        except OSError as exc:
            self._cut()  # a partly written frame leaves the stream unusable
            raise self._write_error(exc) from None
        finally:
            self._send_lock.release()

    def _write_error(self, exc: OSError) -> ConnectionLost:
        if self._closing.is_set():
            return ConnectionLost(f"the connection to {self.url} is closed", retryable=False)
        if isinstance(exc, TimeoutError):
            return ConnectionLost(f"{self.url} stopped accepting data for "
                                  f"{self._io_timeout_s:g} s; the connection is stuck")
        return ConnectionLost(f"the connection to {self.url} dropped: "
                              f"{reason(exc, self._io_timeout_s)[0]}")

    def _stall_error(self) -> ConnectionLost:
        sent_at = self._ping_sent_at
        waited = self._clock() - sent_at if sent_at is not None else self._io_timeout_s
        return ConnectionLost(f"no answer from {self.url} to a ping within "
                              f"{waited:.1f} s; the connection is dead")

    def recv(self) -> Event | None:
        """The next server event; None when the socket has closed (by either side)."""
        self._reading.set()
        try:
            return self._recv()
        finally:
            self._reading.clear()

    def _recv(self) -> Event | None:
        while self._reader is not None:
            message = self._next_message()
            if message is None:
                return None
            opcode, payload = message
            if opcode != wsf.OP_TEXT:
                self._cut()
                raise ProtocolError(f"{self.url} sent a binary frame; the protocol uses text only")
            try:
                return decode(payload)
            except ProtocolError as exc:
                raise ProtocolError(f"{self.url} sent a message omnichat cannot read ({exc})"
                                    ) from None
        return None

    def _next_message(self) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next data message; control frames are handled here."""
        while True:
            frame = self._read_frame()
            if frame is None:
                return None
            self.last_frame_at, self._ping_sent_at = self._clock(), None
            self._probe_deadline = None
            if frame.opcode == wsf.OP_PING:
                self._answer_ping(frame.payload)
            elif frame.opcode == wsf.OP_CLOSE:
                self._note_close(frame.payload)
                return None
            elif frame.opcode != wsf.OP_PONG:
                try:
                    message = self._messages.add(frame)
                except ProtocolError as exc:
                    self._cut()
                    raise ProtocolError(f"{self.url} sent a bad frame: {exc}") from None
                if message is not None:
                    return message

    def _read_frame(self) -> wsf.Frame | None:
        reader = self._reader
        assert reader is not None
        while True:
            try:
                return reader.read_frame()
            except TimeoutError:
                self._check_alive()  # no frame for io_timeout_s: is a ping overdue?
            except ProtocolError as exc:
                self._cut()
                raise ProtocolError(f"{self.url} sent a bad frame: {exc}") from None
            except (OSError, wsf.PeerClosed) as exc:
                self._peer_closed.set()
                if self._stalled:
                    raise self._stall_error() from None
                if self._closing.is_set():
                    return None
                text = "the server closed the socket" if isinstance(exc, wsf.PeerClosed) \
                    else reason(exc, self._io_timeout_s)[0]
                raise ConnectionLost(f"the connection to {self.url} dropped: {text}") from None

    def _recv_bytes(self, size: int) -> bytes:
        """``sock.recv`` for the reader, waiting in slices of at most ``READ_SLICE_S`` so a
        probe's deadline is checked while nothing arrives (the socket's own timeout stays
        the write deadline). TLS bytes already decrypted are read without waiting."""
        sock = self._sock
        if sock is None:
            return b""
        poller = select.poll()  # poll, not select: no limit on the descriptor's number
        poller.register(sock, select.POLLIN)
        waited = 0.0
        while True:
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if pending or poller.poll(READ_SLICE_S * 1000):
                return sock.recv(size)
            waited += READ_SLICE_S
            self._check_alive()
            if waited >= self._io_timeout_s:
                raise TimeoutError()

    def _check_alive(self) -> None:
        sent_at, probe_by = self._ping_sent_at, self._probe_deadline
        now = self._clock()
        if self._stalled or (sent_at is not None and now - sent_at >= self._io_timeout_s) \
                or (probe_by is not None and now >= probe_by):
            self._stalled = True
            self._cut()
            raise self._stall_error()

    def _answer_ping(self, payload: bytes) -> None:
        try:
            self._send_frame(wsf.OP_PONG, payload)
        except ConnectionLost:
            pass  # the socket is cut; the next read reports the drop

    def _note_close(self, payload: bytes) -> None:
        self._peer_closed.set()
        if len(payload) >= 2:
            self.close_code = int.from_bytes(payload[:2], "big")
        if self._closing.is_set():
            return
        self._send_close(CLOSE_NORMAL)  # echo, as RFC 6455 asks
        raise ConnectionLost(f"the server closed the connection to {self.url}"
                             + (f" (code {self.close_code})" if self.close_code else ""))

    # ---- close ----------------------------------------------------------------------------

    @property
    def closed_by_peer(self) -> bool:
        return self._peer_closed.is_set()

    def close(self, code: int = CLOSE_NORMAL) -> None:
        """Send a close frame, wait briefly for the echo, then cut the socket. Idempotent.

        Bounded even while another thread is blocked in ``recv`` or in ``send``. The echo
        is only waited for while a reader is in ``recv`` to see it.
        """
        opening = self._opening
        if opening is not None and not self._closing.is_set():
            self._closing.set()  # a handshake that hangs: cut it, connect() raises at once
            _shutdown(opening)
            return
        if self._sock is None or self._closing.is_set():
            self._closing.set()  # a connect() still opening its TCP socket gives up after it
            return
        self._closing.set()
        if self._send_close(code, wait_s=CLOSE_WAIT_S) and self._reading.is_set():
            self._peer_closed.wait(CLOSE_WAIT_S)
        self._cut()

    def _send_close(self, code: int, wait_s: float = CLOSE_WAIT_S) -> bool:
        """Send the one close frame if the send lock is free within ``wait_s``."""
        sock = self._sock
        if sock is None or not self._send_lock.acquire(timeout=wait_s):
            return False
        try:
            if self._close_sent:
                return True
            self._close_sent = True
            sock.settimeout(CLOSE_WAIT_S)
            sock.sendall(wsf.encode_frame(wsf.OP_CLOSE, wsf.close_payload(code), os.urandom(4)))
            return True
        except OSError:
            return False  # already gone: nothing to say goodbye to
        finally:
            self._send_lock.release()

    def _cut(self) -> None:
        """Shut the socket down both ways: fails a stuck write, wakes the reader."""
        sock = self._sock
        if sock is not None:
            _shutdown(sock)

    def release(self) -> None:
        """Free the socket. Call after the reader has returned (joined)."""
        sock, self._sock = self._sock, None
        self._reader = None
        if sock is not None:
            self._cut()
            sock.close()


def _shutdown(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown: SSLSocket's would tear down its state
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
