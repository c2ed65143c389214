"""``WebSocketTransport``: the real socket to the service, every read and write bounded.

websockets' Sans-I/O ``ClientProtocol`` does the WebSocket work: the upgrade's checks,
framing, masking, the size cap (checked against a frame's header, before its payload is
read), fragments, the close handshake and its payload's validity, answers to pings. It never
touches the socket. This class moves its bytes with ``socket_io``, under deadlines.

Threads and what they own:
- any thread may ``send``, ``ping`` or ``probe``. ``_send_lock`` is held from taking bytes out
  of the protocol until they are written, so frames go out whole and in order;
  ``_protocol_lock`` guards the protocol's state and is never held across a socket call. A
  write the peer does not accept within ``io_timeout_s`` cuts the socket and raises
  ``ConnectionLost``, so the send lock is never held longer than that.
- exactly one thread (the engine's receiver) calls ``recv``. It waits for the socket for at
  most ``io_timeout_s`` (or until a probe's deadline), then checks the ping and probe
  deadlines and waits on. It is unblocked for good by a message, the peer's close or EOF, a
  missed deadline, or ``close``/a failed write shutting the socket down; ``probe`` wakes it
  (``_wake``) so that it waits on the new deadline.
- ``close`` may be called from any other thread, also while a sender is stuck in a write: it
  sends the close frame only if the send lock is free at once, waits briefly for the echo,
  then shuts the socket down, which fails the stuck write and wakes the reader. ``release``
  frees the descriptors after the reader has been joined.

Every failure is translated into the omnichat tree with the URL, never the key, and carries
``retryable`` (a drop or timeout may be retried; a redirect, refused key or TLS error not).
``docs/security.md`` lists the bounds and ``docs/architecture.md`` why this design.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState, PayloadTooBig
from websockets.exceptions import ProtocolError as WebSocketProtocolError
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from omnichat.errors import ConnectFailed, ConnectionLost, ProtocolError
from omnichat.protocol.events import Event, decode, encode
from omnichat.transport.base import CLOSE_NORMAL
from omnichat.transport.socket_io import recv_some, send_all, wait_readable
from omnichat.transport.status import printable, reason, status_error
from omnichat.transport.target import Target, parse_target
from omnichat.transport.upgrade import check_key, new_protocol, open_socket, upgrade

CONNECT_TIMEOUT_S = 10.0
#: Deadline for every socket write, and for a pong (or any frame) after a keep-alive ping.
IO_TIMEOUT_S = 10.0
#: ``ping()`` sends a ping when nothing arrived for this long.
PING_INTERVAL_S = 15.0
#: The biggest message accepted from the server (one frame or all fragments of one). The
#: service's frames are small (an audio delta is about 20 KB); anything near this is a
#: broken or hostile peer.
MAX_FRAME_BYTES = 4 * 1024 * 1024
#: Close codes of a peer that ended the session on purpose (RFC 6455 §7.4.1).
NORMAL_CLOSE_CODES = (1000, 1001)
# close(): how long it waits for the send lock, for its close frame to be written, and for
# the peer's echo. Together at most 1.75 s; the socket is cut after them regardless.
CLOSE_LOCK_WAIT_S = 0.25
CLOSE_WRITE_S = 0.5
CLOSE_ECHO_WAIT_S = 1.0
_PING_PAYLOAD = b"omnichat"
_READ_BYTES = 64 * 1024
_NO_STATUS = 1005  # what websockets reports for a close frame without a code


class WebSocketTransport:
    """A DashScope realtime socket: Bearer auth on the upgrade, JSON text frames both ways."""

    def __init__(self, url: str, api_key: str | None, *, region: str = "", key_env: str = "",
                 connect_timeout_s: float = CONNECT_TIMEOUT_S, allow_insecure: bool = False,
                 io_timeout_s: float = IO_TIMEOUT_S, ping_interval_s: float = PING_INTERVAL_S,
                 max_frame_bytes: int = MAX_FRAME_BYTES,
                 ssl_context: ssl.SSLContext | None = None,
                 headers: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self._headers = dict(headers or {})  # extra upgrade headers (the workspace)
        self._api_key = api_key  # never logged, never part of an error message or repr
        self._region, self._key_env = region, key_env
        self._connect_timeout_s, self._allow_insecure = connect_timeout_s, allow_insecure
        self._io_timeout_s, self._ping_interval_s = io_timeout_s, ping_interval_s
        self._max_frame_bytes, self._ssl_context, self._clock = (
            max_frame_bytes, ssl_context, clock)
        self._sock: socket.socket | None = None
        self._opening: socket.socket | None = None  # the socket connect() is upgrading
        self._wake: tuple[socket.socket, socket.socket] | None = None  # (read end, write end)
        self._protocol: ClientProtocol | None = None
        self._send_lock = threading.Lock()  # from taking bytes out of the protocol to written
        self._protocol_lock = threading.Lock()  # the protocol's state; never across socket I/O
        self._ping_wanted = False  # guarded by _protocol_lock: the next write adds a ping
        # Owned by the reader: frames not yet handled, a fragmented message's parts, the
        # protocol's failure once it stopped parsing, and whether the socket has ended.
        self._frames: deque[Frame] = deque()
        self._parts: list[bytes] | None = None
        self._failure: ProtocolError | None = None
        self._ended = False
        self._closing = threading.Event()  # set by close(): a dropped socket is then expected
        self._peer_closed = threading.Event()  # set by the reader when the socket ends
        self._reading = threading.Event()  # set while the reader is inside recv()
        self._dead: ConnectionLost | None = None  # why the socket was cut, first reason wins
        self._ping_sent_at: float | None = None  # an unanswered ping, on ``clock``
        self._probe_deadline: float | None = None  # time.monotonic() a probe must be answered by
        self._probe_timeout_s = 0.0
        self.last_frame_at: float = clock()  # when any frame (data, ping, pong) last arrived
        self.close_code: int | None = None  # the valid code the peer closed with, if it did
        self.closed_normally = False  # the peer closed with 1000/1001: no drop, an end

    def __repr__(self) -> str:
        return f"WebSocketTransport({self.url!r})"

    # ---- open -----------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the socket and upgrade it, all within ``connect_timeout_s``."""
        target = parse_target(self.url, self._allow_insecure)
        check_key(self._api_key)
        deadline = time.monotonic() + self._connect_timeout_s
        sock = self._open(target, deadline)
        protocol = new_protocol(target, self._max_frame_bytes)
        self._opening = sock  # close() from another thread cuts a handshake that hangs
        try:
            if self._closing.is_set():
                raise ConnectFailed("the connection was closed while it was being opened",
                                    retryable=False)
            response = upgrade(sock, protocol, self._api_key, deadline, self._headers)
        except BaseException as exc:
            sock.close()
            raise self._connect_error(exc) from None
        finally:
            self._opening = None
        if response.status_code != 101:
            sock.close()
            raise status_error(response, self.url, self._region, self._key_env)
        sock.setblocking(False)  # from now on every wait is socket_io's poll, with a deadline
        wake = socket.socketpair()
        for end in wake:
            end.setblocking(False)
        self._sock, self._wake, self._protocol = sock, wake, protocol
        self._take_input()  # frames that arrived together with the 101
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

    # ---- writing --------------------------------------------------------------------------

    def send(self, event: Event) -> None:
        if self._closing.is_set():
            raise ConnectionLost(f"the connection to {self.url} is closed", retryable=False)
        payload = encode(event).encode("utf-8")
        self._flush(lambda protocol: protocol.send_text(payload))

    def ping(self) -> None:
        """Keep-alive, to be called regularly (e.g. by the sender when idle).

        Sends a ping once nothing has arrived for ``ping_interval_s``; if a ping stays
        unanswered (no pong, no byte at all) for ``io_timeout_s``, the peer is taken for
        dead: the socket is cut and ``ConnectionLost`` (retryable) raised here, and the
        blocked reader raises the same.
        """
        now = self._clock()
        sent_at = self._ping_sent_at
        if sent_at is not None:
            if now - sent_at >= self._io_timeout_s:
                raise self._declare_dead(self._stall_error())
            return
        if now - self.last_frame_at >= self._ping_interval_s:
            self._ping_sent_at = now
            self._flush(lambda protocol: protocol.send_ping(_PING_PAYLOAD))

    def probe(self, timeout_s: float) -> None:
        """Check now that the link is alive: send a ping (unless one is already outstanding)
        and take the link for dead if nothing at all arrives within ``timeout_s``; the
        blocked reader then raises a retryable ``ConnectionLost``. Any thread. Never waits
        for another writer (the ping then goes out right after its write); only a socket
        that cannot take the few bytes of the ping makes it wait, at most ``timeout_s``."""
        if self._sock is None or self._closing.is_set():
            return
        deadline = time.monotonic() + timeout_s
        if self._probe_deadline is None or deadline < self._probe_deadline:
            self._probe_deadline, self._probe_timeout_s = deadline, timeout_s
        if self._ping_sent_at is None:
            self._ping_sent_at = self._clock()
            with self._protocol_lock:
                self._ping_wanted = True
            try:
                self._flush(None, lock_timeout_s=0.0, write_timeout_s=timeout_s)
            except ConnectionLost:
                pass  # the socket is cut; the reader reports why
        self._wake_reader()

    def _flush(self, add: Callable[[ClientProtocol], None] | None, *,
               lock_timeout_s: float | None = None, write_timeout_s: float | None = None
               ) -> None:
        """Let ``add`` queue frames in the protocol, then write all it has to send, until
        nothing is left: what another thread queued meanwhile (a pong, a probe's ping) goes
        out too. Finding nothing left and releasing the send lock happen under the protocol
        lock, so a probe that found the send lock busy is sure its ping is written.

        With ``lock_timeout_s`` 0 a busy send lock is left alone (its holder writes next);
        otherwise a lock not free in time means a stuck writer: the socket is cut.
        """
        sock, protocol = self._sock, self._protocol
        if sock is None or protocol is None:
            raise ConnectionLost(f"the connection to {self.url} is not open", retryable=False)
        lock_wait = self._io_timeout_s if lock_timeout_s is None else lock_timeout_s
        if not self._send_lock.acquire(timeout=lock_wait):
            if lock_wait == 0.0:
                return
            raise self._declare_dead(self._write_error(TimeoutError(), lock_wait))
        write_wait = write_timeout_s or self._io_timeout_s
        holding = True
        try:
            while True:
                with self._protocol_lock:
                    self._queue(protocol, add)
                    data = [chunk for chunk in protocol.data_to_send() if chunk]
                    if not data:  # (b"" asks for a half-close; the client never needs one)
                        self._send_lock.release()
                        holding = False
                        return
                add = None
                for chunk in data:
                    send_all(sock, chunk, write_wait)
        except OSError as exc:  # a partly written frame leaves the stream unusable
            raise self._declare_dead(self._write_error(exc, write_wait)) from None
        finally:
            if holding:
                self._send_lock.release()

    def _queue(self, protocol: ClientProtocol,
               add: Callable[[ClientProtocol], None] | None) -> None:
        """Under ``_protocol_lock``: the caller's frames, then a ping a probe asked for.

        A server's close that arrived with the last bytes read, before the reader reported
        it, drops the frame quietly (the server would discard it); the reader reports the
        close. Once it has, or after our own close, sending raises.
        """
        try:
            if add is not None:
                add(protocol)
        except InvalidState:
            if (protocol.close_rcvd is None or self._peer_closed.is_set()
                    or self._closing.is_set()):
                raise self._closed_error() from None
        if self._ping_wanted and protocol.state is State.OPEN:
            self._ping_wanted = False
            protocol.send_ping(_PING_PAYLOAD)

    def _closed_error(self) -> ConnectionLost:
        """Why the protocol refuses to send: our close, the server's, or a bad frame."""
        if self._failure is not None and not self._closing.is_set():
            return ConnectionLost(str(self._failure), retryable=False)
        if self._peer_closed.is_set() and not self._closing.is_set():
            return ConnectionLost(f"the server closed the connection to {self.url}"
                                  f"{self._code_text()}")
        return ConnectionLost(f"the connection to {self.url} is closed", retryable=False)

    def _write_error(self, exc: OSError, timeout_s: float) -> ConnectionLost:
        if self._closing.is_set():
            return ConnectionLost(f"the connection to {self.url} is closed", retryable=False)
        if self._dead is not None:
            return self._dead
        if isinstance(exc, TimeoutError):
            return ConnectionLost(f"{self.url} stopped accepting data for "
                                  f"{timeout_s:g} s; the connection is stuck")
        return ConnectionLost(f"the connection to {self.url} dropped: "
                              f"{reason(exc, self._io_timeout_s)[0]}")

    def _stall_error(self) -> ConnectionLost:
        return ConnectionLost(f"no answer from {self.url} to a ping within "
                              f"{self._io_timeout_s:g} s; the connection is dead")

    def _declare_dead(self, error: ConnectionLost) -> ConnectionLost:
        """Cut the socket for ``error``; the reader and writers report the first reason."""
        if self._dead is None and not self._closing.is_set():
            self._dead = error
        self._cut()
        return self._dead or error

    # ---- reading --------------------------------------------------------------------------

    def recv(self) -> Event | None:
        """The next server event; None once ``close`` closed the socket. The server's
        close raises ``ConnectionLost`` (see ``closed_normally``), and so does a drop."""
        self._reading.set()
        try:
            message = self._next_message()
            if message is None:
                return None
            try:
                return decode(message)
            except ProtocolError as exc:
                raise ProtocolError(f"{self.url} sent a message omnichat cannot read ({exc})"
                                    ) from None
        finally:
            self._reading.clear()

    def _next_message(self) -> bytes | None:
        """The next complete text message, handling control frames on the way."""
        while self._sock is not None:
            while self._frames:
                message = self._on_frame(self._frames.popleft())
                if message is not None:
                    return message
            if self._ended:
                return None
            if self._failure is not None:
                raise self._failure
            self._receive()
        return None

    def _on_frame(self, frame: Frame) -> bytes | None:
        self.last_frame_at = self._clock()
        if frame.opcode is Opcode.TEXT:
            if frame.fin:
                return bytes(frame.data)
            self._parts = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT and self._parts is not None:
            self._parts.append(bytes(frame.data))
            if frame.fin:
                message, self._parts = b"".join(self._parts), None
                return message
        elif frame.opcode is Opcode.BINARY:
            self._cut()
            raise ProtocolError(f"{self.url} sent a binary frame; the protocol uses text only")
        elif frame.opcode is Opcode.CLOSE:
            self._on_close()
        return None

    def _on_close(self) -> None:
        """The peer's close frame (websockets checked its code and UTF-8 reason): echo it
        and raise a retryable ``ConnectionLost`` naming the code, as for a drop, so that
        the engine's one path for a lost connection sees it. A normal close (1000, 1001)
        is told apart by ``closed_normally``, set before raising."""
        protocol = self._protocol
        received = protocol.close_rcvd if protocol is not None else None
        self._ended = True
        self._peer_closed.set()
        code = received.code if received is not None else None
        self.close_code = None if code == _NO_STATUS else code
        if self._closing.is_set():
            return  # the echo of our own close
        self._flush_quietly()
        self.closed_normally = self.close_code in NORMAL_CLOSE_CODES
        why = printable(received.reason)[:100] if received is not None else ""
        raise ConnectionLost(f"the server closed the connection to {self.url}"
                             f"{self._code_text()}" + (f": {why}" if why else ""))

    def _code_text(self) -> str:
        return f" (code {self.close_code})" if self.close_code else ""

    def _receive(self) -> None:
        """Wait (bounded) for bytes and feed them to the protocol; raise on a dead socket."""
        sock, wake = self._sock, self._wake
        assert sock is not None and wake is not None
        try:
            if not wait_readable(sock, wake[0], self._wait_s()):
                self._drain_wake()
                self._check_alive()
                return
            chunk = recv_some(sock, _READ_BYTES)
        except OSError as exc:
            self._socket_ended(reason(exc, self._io_timeout_s)[0])
            return
        if chunk is None:  # TLS: part of a record; OpenSSL keeps it until the rest comes
            self._check_alive()
            return
        if not chunk:
            self._socket_ended("the server closed the socket")
            return
        self._ping_sent_at = self._probe_deadline = None  # any byte shows the link lives
        self._take_input(chunk)

    def _take_input(self, chunk: bytes = b"") -> None:
        """Feed ``chunk`` to the protocol; queue its frames, note its failure, and write
        what it answers (pongs, the close echo)."""
        protocol = self._protocol
        assert protocol is not None
        with self._protocol_lock:
            if chunk:
                protocol.receive_data(chunk)
            frames = [event for event in protocol.events_received() if isinstance(event, Frame)]
            failure = protocol.parser_exc
        self._frames.extend(frames)
        if failure is not None and self._failure is None:
            self._cut()
            self._failure = ProtocolError(f"{self.url} sent a bad frame: "
                                          f"{self._describe(failure)}")
        if any(frame.opcode is Opcode.PING for frame in frames):
            self._flush_quietly()

    def _describe(self, failure: BaseException) -> str:
        limit = f"{self._max_frame_bytes // 1024} KiB limit"
        if isinstance(failure, PayloadTooBig):
            if failure.current_size:
                return f"a fragmented message exceeds the {limit}"
            return f"a frame announces {failure.size} bytes, over the {limit}"
        if isinstance(failure, UnicodeDecodeError):
            return "a close frame's reason is not UTF-8"
        if isinstance(failure, WebSocketProtocolError):
            return printable(str(failure))
        return type(failure).__name__

    def _flush_quietly(self) -> None:
        """The reader writes what the protocol answered; a failed write cut the socket,
        and the next read reports that."""
        try:
            self._flush(None)
        except ConnectionLost:
            pass

    def _socket_ended(self, why: str) -> None:
        self._peer_closed.set()
        if self._dead is not None:
            raise self._dead
        self._ended = True
        if self._closing.is_set():
            return
        raise ConnectionLost(f"the connection to {self.url} dropped: {why}")

    def _wait_s(self) -> float:
        """How long the reader may wait for bytes before checking the deadlines."""
        wait = self._io_timeout_s
        deadline = self._probe_deadline
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
        return max(0.0, wait)

    def _check_alive(self) -> None:
        """Raise (and cut) if a probe or a ping went unanswered past its deadline."""
        probe_deadline, sent_at = self._probe_deadline, self._ping_sent_at
        if probe_deadline is not None and time.monotonic() >= probe_deadline:
            self._declare_dead(ConnectionLost(
                f"no answer from {self.url} to a ping within {self._probe_timeout_s:g} s; "
                "the connection is dead"))
        elif sent_at is not None and self._clock() - sent_at >= self._io_timeout_s:
            self._declare_dead(self._stall_error())
        if self._dead is not None:
            raise self._dead

    def _wake_reader(self) -> None:
        wake = self._wake
        if wake is not None:
            try:
                wake[1].send(b"!")
            except OSError:
                pass  # already full (the reader will wake) or released

    def _drain_wake(self) -> None:
        wake = self._wake
        try:
            while wake is not None and wake[0].recv(64):
                pass
        except OSError:
            pass  # nothing left to read

    # ---- close ----------------------------------------------------------------------------

    def close(self, code: int = CLOSE_NORMAL) -> None:
        """Send a close frame, wait briefly for the echo, then cut the socket. Idempotent.

        Bounded (at most ``CLOSE_LOCK_WAIT_S + CLOSE_WRITE_S + CLOSE_ECHO_WAIT_S``) even
        while another thread is blocked in ``recv`` or stuck in ``send``: the socket is cut
        last in any case, which wakes both. The echo is only waited for while a reader is
        in ``recv`` to see it.
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
        if self._send_close(code) and self._reading.is_set():
            self._peer_closed.wait(CLOSE_ECHO_WAIT_S)
        self._cut()

    def _send_close(self, code: int) -> bool:
        """Write the one close frame if the send lock is free soon; a writer stuck on a peer
        that stopped reading holds it, and then there is nobody to say goodbye to."""
        sock, protocol = self._sock, self._protocol
        if sock is None or protocol is None:
            return False
        if not self._send_lock.acquire(timeout=CLOSE_LOCK_WAIT_S):
            return False
        try:
            with self._protocol_lock:
                if protocol.state is not State.OPEN:
                    return False
                protocol.send_close(code)
                data = protocol.data_to_send()
            for chunk in data:
                send_all(sock, chunk, CLOSE_WRITE_S)
            return True
        except OSError:
            return False  # already gone, or not reading: nothing to wait for
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
        wake, self._wake = self._wake, None
        if sock is not None:
            self._cut()
            sock.close()
        for end in wake or ():
            end.close()


def _shutdown(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown: SSLSocket's would tear down its state
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
