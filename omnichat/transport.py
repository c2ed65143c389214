"""The WebSocket to the service: open, send, receive, close — and nothing else.

``Transport`` is the interface the engine talks to, so a conversation can swap its socket
(reconnect, session rollover) without knowing how frames travel. ``WebSocketTransport`` is
the real one, on the synchronous ``websocket-client`` library.

Threads: any thread may ``send`` (websocket-client serialises writers with its own lock);
exactly one thread — the engine's receiver — calls ``recv``. ``close`` is called from yet
another thread, so it never calls ``WebSocket.close()`` (that reads the socket and races the
receiver, websocket-client #120). It sends the close frame, waits a moment for the reader to
see the peer's echo, then shuts the socket down for reading and writing, which is what makes
a blocked ``recv`` return. ``release()`` frees the file descriptor once the reader is joined.

Every library error is translated here into the omnichat tree with the URL — never the key.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Protocol

import websocket

from omnichat.errors import AuthFailed, ConnectFailed, ConnectionLost, ProtocolError
from omnichat.protocol import Event, decode, encode

CLOSE_NORMAL = 1000
CONNECT_TIMEOUT_S = 10.0
# How long close() waits for the peer's close echo before cutting the socket.
CLOSE_ECHO_TIMEOUT_S = 1.0


class Transport(Protocol):
    """What the engine needs from a connection. ``recv`` returns None once the socket closed."""

    url: str

    def connect(self) -> None: ...
    def send(self, event: Event) -> None: ...
    def recv(self) -> Event | None: ...
    def close(self, code: int = CLOSE_NORMAL) -> None: ...
    def release(self) -> None: ...


class _WebSocket(websocket.WebSocket):
    """websocket-client answers a peer's close with its own; after ours, that second frame
    would break the close handshake, so only the first close frame is ever sent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._close_sent = threading.Event()

    def send_close(self, status: int = CLOSE_NORMAL, reason: bytes | str = b"") -> None:
        if self._close_sent.is_set():
            return
        self._close_sent.set()
        super().send_close(status, reason)


class WebSocketTransport:
    """A DashScope realtime socket: Bearer auth on the upgrade, JSON text frames both ways."""

    def __init__(self, url: str, api_key: str | None, *, region: str = "", key_env: str = "",
                 connect_timeout_s: float = CONNECT_TIMEOUT_S):
        self.url = url
        self._api_key = api_key  # never logged, never part of an error message
        self._region = region
        self._key_env = key_env
        self._connect_timeout_s = connect_timeout_s
        self._ws: _WebSocket | None = None
        self._closing = threading.Event()  # set by close(): a dropped socket is then expected
        self._peer_closed = threading.Event()  # set by the reader when the socket ends
        self.close_code: int | None = None  # the code the peer closed with, if it did

    def __repr__(self) -> str:
        return f"WebSocketTransport({self.url!r})"

    # ---- open -----------------------------------------------------------------------------

    def connect(self) -> None:
        headers = [f"Authorization: Bearer {self._api_key}"] if self._api_key else []
        try:
            ws = websocket.create_connection(
                self.url, timeout=self._connect_timeout_s, header=headers, class_=_WebSocket,
                enable_multithread=True, suppress_origin=True)
        except websocket.WebSocketBadStatusException as exc:
            raise self._status_error(exc.status_code) from None
        except (socket.gaierror, ConnectionRefusedError, ssl.SSLError, OSError,
                websocket.WebSocketException, ValueError) as exc:
            raise ConnectFailed(f"cannot connect to {self.url}: {_reason(exc)}") from None
        ws.settimeout(None)  # the reader blocks until data, a close, or close() cuts the socket
        self._ws = ws

    def _status_error(self, status: int) -> ConnectFailed:
        if status in (401, 403):
            where = f"region '{self._region}'" if self._region else self.url
            env = f" (set {self._key_env} to a key of that region)" if self._key_env else ""
            return AuthFailed(f"the service refused the API key for {where}: HTTP {status}{env}")
        return ConnectFailed(f"cannot connect to {self.url}: the server answered HTTP {status}")

    # ---- traffic --------------------------------------------------------------------------

    def send(self, event: Event) -> None:
        ws = self._ws
        if ws is None or self._closing.is_set():
            raise ConnectionLost(f"the connection to {self.url} is closed")
        try:
            ws.send(encode(event))
        except (OSError, websocket.WebSocketException) as exc:
            raise ConnectionLost(f"the connection to {self.url} dropped: {_reason(exc)}") from None

    def recv(self) -> Event | None:
        """The next server event; None when the socket has closed (by either side)."""
        ws = self._ws
        if ws is None:
            return None
        try:
            opcode, payload = ws.recv_data()
        except (OSError, websocket.WebSocketException) as exc:
            self._peer_closed.set()
            if self._closing.is_set():
                return None
            raise ConnectionLost(f"the connection to {self.url} dropped: {_reason(exc)}") from None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self._note_close(payload)
            return None
        if opcode != websocket.ABNF.OPCODE_TEXT:
            raise ProtocolError(f"{self.url} sent a binary frame; the protocol uses text only")
        try:
            return decode(payload)
        except ProtocolError as exc:
            raise ProtocolError(f"{self.url} sent a message omnichat cannot read ({exc})"
                                ) from None

    def _note_close(self, payload: bytes) -> None:
        self._peer_closed.set()
        if len(payload) >= 2:
            self.close_code = int.from_bytes(payload[:2], "big")
        if not self._closing.is_set():
            raise ConnectionLost(f"the server closed the connection to {self.url}"
                                 + (f" (code {self.close_code})" if self.close_code else ""))

    # ---- close ----------------------------------------------------------------------------

    @property
    def closed_by_peer(self) -> bool:
        return self._peer_closed.is_set()

    def close(self, code: int = CLOSE_NORMAL) -> None:
        """Send a close frame, wait briefly for the echo, then cut the socket. Idempotent.

        Safe while another thread is blocked in ``recv``: it only sends and shuts down.
        """
        ws = self._ws
        if ws is None or self._closing.is_set():
            return
        self._closing.set()
        try:
            ws.send_close(code)
        except (OSError, websocket.WebSocketException):
            pass  # already gone: nothing to say goodbye to
        self._peer_closed.wait(CLOSE_ECHO_TIMEOUT_S)
        sock = ws.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader; abort() is a no-op here
            except OSError:
                pass

    def release(self) -> None:
        """Free the socket. Call after the reader has returned (joined)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.shutdown()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (socket.gaierror, websocket.WebSocketAddressException)):
        return "the host name does not resolve"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc.__class__.__name__})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    text = str(exc).strip()
    return text or exc.__class__.__name__
