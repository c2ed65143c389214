"""The emulator's server: ``Emulator`` (a context manager) on websockets' threaded server.

Threads: ``omnichat-emulator`` runs ``serve_forever`` (blocks in accept; ``close()`` ends it
through ``Server.shutdown``). websockets starts one thread per connection, which renames
itself ``omnichat-emulator-conn-N`` and runs one ``EmulatorConnection`` (connection.py), with
its writer ``omnichat-emulator-send-N`` and response threads. ``close()`` stops every
connection's writer, shuts the server down (closing connections with 1001 and waiting for
their threads) and joins the serve thread; it is idempotent. Every socket write has a
deadline (``send_timeout_s``), so a client that never reads delays ``close()`` by at most that
deadline plus ``CLOSE_TIMEOUT_S``.

Memory: without ``record=True`` a finished connection is forgotten and nothing it sent or
received is kept, so a long conversation runs in flat memory. With it, connections and their
(bounded) recordings are kept for the tests to inspect.
"""

from __future__ import annotations

import hmac
import http
import itertools
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from omnichat.catalog import MODELS, get_model
from omnichat.emulator.connection import EmulatorConnection
from omnichat.emulator.faults import Fault, Faults
from omnichat.emulator.options import EmulatorOptions, TranscriptionMode, TranscriptSource
from omnichat.emulator.responder import Pacer
from omnichat.emulator.trace import Trace, safe_headers, safe_path
from omnichat.errors import UsageError
from omnichat.transport.target import is_loopback

PATH = "/api-ws/v1/realtime"
# websockets' own log (a client that vanished mid-ping, ...): shown only with --debug
LIBRARY_LOG = logging.getLogger("omnichat.emulator.websockets")
JOIN_TIMEOUT_S = 30.0  # a bug guard: connection threads end within send_timeout_s + CLOSE
CLOSE_TIMEOUT_S = 2.0  # a client that never finishes the closing handshake is dropped


def read_reply_script(path: str | Path, what: str = "reply script") -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise UsageError(f"cannot read the {what} {path}: {reason}") from exc
    replies = [line.strip() for line in lines if line.strip()]
    if not replies:
        raise UsageError(f"the {what} {path} has no non-empty line")
    return replies


class Emulator:
    """A local Qwen-Omni-Realtime service: ``with Emulator() as emu: emu.url``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 speed: str | float = "fast", reply_script: str | Path | None = None,
                 replies: Sequence[str] | None = None, transcripts: TranscriptSource = None,
                 transcription: str | TranscriptionMode = TranscriptionMode.PROMPT,
                 trace: str | Path | None = None, allow_remote: bool = False,
                 max_frame_bytes: int = 16 * 1024 * 1024, **options: Any) -> None:
        if not allow_remote and not is_loopback(host):
            raise UsageError(f"refusing to serve on non-loopback host {host!r} without "
                             "--allow-remote")
        self.host, self.port = host, port
        self._api_key = api_key
        self.options = EmulatorOptions(**options)
        self.options.replies = list(replies or [])
        if reply_script:
            self.options.replies = read_reply_script(reply_script)
        self.options.transcripts = transcripts
        self.options.transcription = TranscriptionMode.parse(transcription)
        self.pacer = Pacer(speed)
        self.faults = Faults()
        self.faults._deliver = self._deliver_fault
        # Open connections; with record=True every connection so far, in connection order.
        self.connections: list[EmulatorConnection] = []
        self._opened = 0  # connections opened so far (wait_for_connection counts these)
        self._running = 0  # connections whose handler has not returned yet
        self._connections_changed = threading.Condition()  # guards the three; notified on change
        self._trace_path = trace
        self._trace: Trace | None = None
        self._max_frame_bytes = max_frame_bytes
        self._numbers = itertools.count(1)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._close_lock = threading.Lock()  # makes close() idempotent
        self._closed = False

    def __repr__(self) -> str:  # never shows the key
        return f"Emulator(url={self.url!r})"

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{PATH}"

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind, open the trace file, start the serve thread. ``OSError`` if the port cannot
        be bound; ``UsageError`` if the trace file cannot be written (the socket is closed)."""
        self._server = serve(self._handle, self.host, self.port,
                             process_request=self._check_request,
                             max_size=self._max_frame_bytes, compression=None,
                             close_timeout=CLOSE_TIMEOUT_S,
                             # its tracebacks (a client that vanished: keepalive ping failed,
                             # EOFError) stay out of serve's output unless --debug
                             logger=LIBRARY_LOG)
        self.port = self._server.socket.getsockname()[1]
        if self._trace_path:  # opened after the bind: a port in use leaves no empty trace
            try:
                self._trace = Trace(str(self._trace_path), secrets=[self._api_key])
            except OSError as exc:
                self._server.socket.close()
                raise UsageError(f"cannot write the trace file {self._trace_path}: "
                                 f"{exc.strerror or exc}; choose a writable path") from exc
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="omnichat-emulator", daemon=False)
        self._thread.start()
        return self

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        with self._connections_changed:
            connections = list(self.connections)
        for connection in connections:
            connection.shut_down()
        self.pacer.wake()
        if self._server is not None and self._thread is not None:
            self._server.shutdown()  # waits for serve_forever: only once it was started
        elif self._server is not None:
            self._server.socket.close()  # start() failed (or was interrupted) before serving
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                raise RuntimeError("bug: the emulator's serve thread did not stop")
        if self._trace is not None:
            self._trace.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def serve_forever(self) -> None:
        """Block until the serve thread ends (the CLI's foreground mode; Ctrl+C stops it)."""
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.5)

    # --- for tests ---------------------------------------------------------------------------

    @property
    def record(self) -> bool:
        return self.options.record

    @property
    def connection(self) -> EmulatorConnection | None:
        """The newest connection, if any (with record=False: the newest still open)."""
        with self._connections_changed:
            return self.connections[-1] if self.connections else None

    def wait_for_connection(self, timeout: float = 5.0, index: int = 0) -> EmulatorConnection:
        """Connection number ``index`` (0 = the first), waiting for it to open (record=True)."""
        if not self.record:
            raise RuntimeError("this emulator keeps no finished connections; "
                               "use Emulator(record=True)")
        with self._connections_changed:
            if not self._connections_changed.wait_for(lambda: self._opened > index,
                                                      timeout=timeout):
                raise TimeoutError(f"no connection #{index} within {timeout}s")
            return self.connections[index]

    def wait_until_idle(self, timeout: float = 5.0) -> bool:
        """True once every connection opened so far has ended (its threads joined)."""
        with self._connections_changed:
            return self._connections_changed.wait_for(lambda: self._running == 0,
                                                      timeout=timeout)

    # The names the older tests use (a connection carries one service session).
    sessions = property(lambda self: self.connections)
    session = connection
    wait_for_session = wait_for_connection

    def hold_responses(self, after_packets: int = 1) -> None:
        """Let each response send its first ``after_packets`` deltas, then wait for release."""
        with self.pacer.cond:
            self.pacer.held_after = after_packets

    def release_responses(self) -> None:
        with self.pacer.cond:
            self.pacer.held_after = None
            self.pacer.cond.notify_all()

    # --- server side ------------------------------------------------------------------------

    def _deliver_fault(self, fault: Fault) -> bool:
        with self._connections_changed:
            live = [c for c in self.connections if not c.closed.is_set()]
        if not live:
            return False
        live[-1].take_fault(fault)
        return True

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._trace is not None:
            self._trace.write("", "in", note="handshake", path=safe_path(request.path),
                              headers=safe_headers(dict(request.headers.raw_items())))
        status = self.faults.take_refusal()
        if status is not None:
            return connection.respond(status, f"{http.HTTPStatus(status).phrase}\n")
        target = urlsplit(request.path)
        if target.path.rstrip("/") != PATH:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
        if self._api_key is not None and not self._authorized(request.headers):
            return connection.respond(http.HTTPStatus.UNAUTHORIZED,
                                      "InvalidApiKey: Invalid API-key provided.\n")
        model = (parse_qs(target.query).get("model") or [""])[0]
        if model not in MODELS:
            status = http.HTTPStatus.NOT_FOUND if model else http.HTTPStatus.BAD_REQUEST
            return connection.respond(status, f"Model not found ({model})!\n")
        connection.omnichat_model = model  # type: ignore[attr-defined]
        return None

    def _authorized(self, headers: Headers) -> bool:
        scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode("utf-8"), str(self._api_key).encode("utf-8"))

    def _handle(self, websocket: ServerConnection) -> None:
        number = next(self._numbers)
        threading.current_thread().name = f"omnichat-emulator-conn-{number}"
        model = get_model(websocket.omnichat_model)  # type: ignore[attr-defined]
        connection = EmulatorConnection(websocket, model, self.options, self.pacer, number,
                                        self._trace)
        with self._connections_changed:
            self.connections.append(connection)
            self._opened += 1
            self._running += 1
            self._connections_changed.notify_all()
        if self._closed:
            connection.stop()
        try:
            connection.run(self.faults.take_pending())
        finally:
            with self._connections_changed:
                if not self.record:
                    self.connections.remove(connection)
                self._running -= 1
                self._connections_changed.notify_all()
