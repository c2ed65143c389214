"""The emulator's server: ``Emulator`` (a context manager) on websockets' threaded server.

Threads: ``omnichat-emulator`` runs ``serve_forever`` (blocks in accept; ``close()`` ends it
through ``Server.shutdown``). websockets starts one thread per connection, which renames
itself ``omnichat-emulator-conn-N`` and runs one ``Session`` (see session.py). ``close()``
marks every session closed, shuts the server down (closing connections with 1001 and
waiting for their threads) and joins the serve thread; it is idempotent.
"""

from __future__ import annotations

import hmac
import http
import ipaddress
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import serve

from omnichat.catalog import MODELS, get_model
from omnichat.emulator.faults import Fault, Faults
from omnichat.emulator.responder import Pacer
from omnichat.emulator.session import Session
from omnichat.emulator.trace import Trace, safe_headers, safe_path
from omnichat.errors import UsageError

PATH = "/api-ws/v1/realtime"
JOIN_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0  # a client that never finishes the closing handshake is dropped


@dataclass
class Settings:
    """Behaviour knobs shared by all sessions (tests compress time through these)."""

    replies: list[str] = field(default_factory=list)
    transcripts: Sequence[str] | Callable[[bytes, int], str | None] | None = None
    # None: no response.done after a cancel or barge-in (measured, S12); or a status string.
    cancel_response_done: str | None = None
    idle_timeout_s: float = 300.0
    idle_close_code: int = 1007
    max_session_s: float = 7200.0
    max_session_close_code: int = 1008
    image_limit_b64_bytes: int = 256 * 1024

    def idle_message(self) -> str:
        return ("Your session was closed because no response was generated for "
                f"{self.idle_timeout_s:g} seconds.")

    def max_session_message(self) -> str:
        return ("Your session was closed because it reached the maximum duration of "
                f"{self.max_session_s / 60:g} minutes.")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_reply_script(path: str | Path) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read the reply script {path}: {exc.strerror}") from exc
    replies = [line.strip() for line in lines if line.strip()]
    if not replies:
        raise UsageError(f"the reply script {path} has no non-empty line")
    return replies


class Emulator:
    """A local Qwen-Omni-Realtime service: ``with Emulator() as emu: emu.url``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 speed: str | float = "fast", reply_script: str | Path | None = None,
                 replies: Sequence[str] | None = None, transcripts=None,
                 trace: str | Path | None = None, allow_remote: bool = False,
                 max_frame_bytes: int = 16 * 1024 * 1024, **settings: Any) -> None:
        if not allow_remote and not is_loopback(host):
            raise UsageError(f"refusing to serve on non-loopback host {host!r} without "
                             "--allow-remote")
        self.host, self.port = host, port
        self._api_key = api_key
        self.settings = Settings(**settings)
        self.settings.replies = list(replies or [])
        if reply_script:
            self.settings.replies = read_reply_script(reply_script)
        self.settings.transcripts = transcripts
        self.pacer = Pacer(speed)
        self.faults = Faults()
        self.faults._deliver = self._deliver_fault
        self.sessions: list[Session] = []  # every session so far, in connection order
        self._sessions_changed = threading.Condition()  # guards sessions; notified on append
        self._trace_path = trace
        self._trace: Trace | None = None
        self._max_frame_bytes = max_frame_bytes
        self._numbers = itertools.count(1)
        self._server = None
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
                             close_timeout=CLOSE_TIMEOUT_S)
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
        with self._sessions_changed:
            sessions = list(self.sessions)
        for session in sessions:
            session.closed.set()
        self.pacer.wake()
        if self._server is not None:
            self._server.shutdown()
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

    # --- for tests --------------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The newest session, if any."""
        with self._sessions_changed:
            return self.sessions[-1] if self.sessions else None

    def wait_for_session(self, timeout: float = 5.0, index: int = 0) -> Session:
        """Session number ``index`` (0 = the first connection), waiting for it to open."""
        with self._sessions_changed:
            if not self._sessions_changed.wait_for(lambda: len(self.sessions) > index,
                                                   timeout=timeout):
                raise TimeoutError(f"no session #{index} within {timeout}s")
            return self.sessions[index]

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
        with self._sessions_changed:
            live = [s for s in self.sessions if not s.closed.is_set()]
        if not live:
            return False
        live[-1].take_fault(fault)
        return True

    def _check_request(self, connection, request):
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
        connection.omnichat_model = model
        return None

    def _authorized(self, headers) -> bool:
        scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode("utf-8"), str(self._api_key).encode("utf-8"))

    def _handle(self, connection) -> None:
        number = next(self._numbers)
        threading.current_thread().name = f"omnichat-emulator-conn-{number}"
        session = Session(connection, get_model(connection.omnichat_model), self.settings,
                          self.pacer, number, self._trace)
        with self._sessions_changed:
            self.sessions.append(session)
            self._sessions_changed.notify_all()
        if self._closed:
            session.closed.set()
        session.run(self.faults.take_pending())
