"""One emulated realtime session: the state of one WebSocket connection.

Threads: the connection's handler thread (``omnichat-emulator-conn-N``) runs ``run()``; it is
the only reader of the socket and blocks in ``recv`` with a deadline (the idle and session
limits), which closing the socket or the deadline ends. The active response streams from
its own thread (``responder.Response``). Both change state and send only while holding
``lock``, so the order on the wire is the order of the state changes. Tests read
``received``/``sent`` and wait on ``changed``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from omnichat import protocol
from omnichat.catalog import Model
from omnichat.emulator import config as cfg
from omnichat.emulator.faults import Fault
from omnichat.emulator.input import InputMixin
from omnichat.emulator.responder import Pacer, Response
from omnichat.emulator.usage import Context
from omnichat.errors import ProtocolError

if TYPE_CHECKING:
    from omnichat.emulator.server import Settings

INSTANT_FAULTS = ("malformed", "unknown_event", "error")


class Session(InputMixin):
    def __init__(self, connection, model: Model, settings: Settings, pacer: Pacer,
                 index: int, trace=None) -> None:
        self.connection = connection
        self.model = model
        self.settings = settings
        self.pacer = pacer
        self.index = index
        self.trace = trace
        self.id = protocol.new_id("sess")
        self.conversation_id = protocol.new_id("conv")
        self.config = cfg.default_session(model, self.id)
        self.lock = threading.RLock()  # state + sends; held by handler and response thread
        self.changed = threading.Condition()  # notified whenever received/sent grow
        self.closed = threading.Event()  # set when the session ends (or the emulator closes)
        self.received: list[protocol.Event] = []  # decoded client events, in order
        self.sent: list[dict[str, Any]] = []  # server events as sent, in order
        self.close_code: int | None = None  # the code the emulator closed with, if it did
        self.response: Response | None = None
        self.audio_generated = False
        self.last_item_id: str | None = None
        self._faults: list[Fault] = []
        self._threads: list[threading.Thread] = []
        self._responses = 0
        self._history: list[dict[str, Any]] = []  # user/assistant items, for replies and usage
        self.started = time.monotonic()
        self._last_response_at = self.started
        self.init_input()

    # --- for tests --------------------------------------------------------------------------

    @property
    def received_types(self) -> list[str]:
        with self.changed:
            return [event.type for event in self.received]

    @property
    def sent_types(self) -> list[str]:
        with self.changed:
            return [str(event.get("type")) for event in self.sent]

    def wait_for(self, type_name: str, *, direction: str = "sent", count: int = 1,
                 timeout: float = 5.0):
        """The ``count``-th event of ``type_name`` sent (or received); TimeoutError if none."""
        def matches():
            if direction == "sent":
                found = [e for e in self.sent if e.get("type") == type_name]
            else:
                found = [e for e in self.received if e.type == type_name]
            return found[count - 1] if len(found) >= count else None

        with self.changed:
            if not self.changed.wait_for(lambda: matches() is not None, timeout=timeout):
                seen = self.sent_types if direction == "sent" else self.received_types
                raise TimeoutError(f"no {direction} {type_name!r} #{count} within {timeout}s; "
                                   f"{direction}: {seen}")
            return matches()

    def wait_closed(self, timeout: float = 5.0) -> bool:
        return self.closed.wait(timeout)

    # --- sending ----------------------------------------------------------------------------

    def send(self, event: protocol.Event | dict) -> None:
        data = event.data if isinstance(event, protocol.Event) else event
        with self.lock:
            self._before_send()
            if self.closed.is_set():
                return
            self._send_text(protocol.encode(data))
            with self.changed:
                self.sent.append(dict(data))
                self.changed.notify_all()
            if self.trace:
                self.trace.event(self.id, "out", data)
            self._after_send()

    def _send_text(self, text: str) -> None:
        try:
            self.connection.send(text)
        except (ConnectionClosed, OSError, RuntimeError):
            self.closed.set()

    def close(self, code: int, reason: str = "") -> None:
        """Close the socket from the server side (limits, faults)."""
        with self.lock:
            if self.close_code is None:
                self.close_code = code
            if self.trace:
                self.trace.write(self.id, "out", note=f"close {code} {reason}")
            self.closed.set()
            self.pacer.wake()
        self.connection.close(code, reason.encode("utf-8")[:120].decode("utf-8", "ignore"))

    # --- faults -----------------------------------------------------------------------------

    def take_fault(self, fault: Fault) -> None:
        """Bind ``fault`` to this session; instant faults are sent now."""
        with self.lock:
            fault.base = len(self.sent)
            if fault.kind == "malformed":
                self._send_text('{"type": "response.audio.delta", "delta": ')
            elif fault.kind == "unknown_event":
                self.send(protocol.server_event(fault.args["type"], note="emulator fault"))
            elif fault.kind == "error":
                self.send(protocol.error_event(fault.args["message"], type=fault.args["type"],
                                               code=fault.args["code"],
                                               param=fault.args["param"]))
            else:
                self._faults.append(fault)

    def _due(self, kind: str) -> Fault | None:
        for fault in self._faults:
            if fault.kind == kind and len(self.sent) - fault.base >= fault.args.get("n", 0):
                self._faults.remove(fault)
                return fault
        return None

    def _before_send(self) -> None:
        fault = self._due("stall")
        if fault is not None:
            self.closed.wait(fault.args["seconds"])  # close() or emulator shutdown ends it

    def _after_send(self) -> None:
        fault = self._due("close_after")
        if fault is not None:
            self.close(fault.args["code"], fault.args["reason"])

    def after_delta(self) -> None:
        for fault in list(self._faults):
            if fault.kind == "close_mid_response":
                self._faults.remove(fault)
                self.close(fault.args["code"], fault.args["reason"])

    # --- the handler loop -------------------------------------------------------------------

    def run(self, pending: list[Fault]) -> None:
        try:
            # Faults armed before the session count from its first event.
            self._faults = [f for f in pending if f.kind not in INSTANT_FAULTS]
            self.send(protocol.session_created(self.config))
            for fault in pending:
                if fault.kind in INSTANT_FAULTS:
                    self.take_fault(fault)
            while not self.closed.is_set():
                try:
                    frame = self.connection.recv(timeout=self._next_deadline_s())
                except TimeoutError:
                    self._check_limits()
                    continue
                except ConnectionClosed:
                    break
                self.on_frame(frame)
        finally:
            self.end()

    def end(self) -> None:
        with self.lock:
            self.closed.set()
            self.pacer.wake()
        for thread in self._threads:
            thread.join(timeout=10.0)
        with self.changed:
            self.changed.notify_all()

    def _next_deadline_s(self) -> float:
        now = time.monotonic()
        cap = self.started + self.settings.max_session_s - now
        idle = self._last_response_at + self.settings.idle_timeout_s - now
        # While a response streams, wake up every idle period to re-arm the idle deadline
        # from the moment the response ended.
        if self.response is not None:
            idle = self.settings.idle_timeout_s
        return max(0.0, min(cap, idle))

    def _check_limits(self) -> None:
        now = time.monotonic()
        s = self.settings
        if now - self.started >= s.max_session_s:
            message = s.max_session_message()
            self.send(protocol.error_event(message, code="session_expired"))
            self.close(s.max_session_close_code, message)
        elif self.response is None and now - self._last_response_at >= s.idle_timeout_s:
            message = s.idle_message()
            self.send(protocol.error_event(message, code="response_idle_timeout"))
            self.close(s.idle_close_code, message)

    def on_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            if self.trace:
                self.trace.raw(self.id, "in", frame)
            self.send(protocol.error_event("Binary frames are not supported; send JSON text.",
                                           code="invalid_frame"))
            return
        try:
            event = protocol.decode(frame)
        except ProtocolError as exc:
            if self.trace:
                self.trace.raw(self.id, "in", frame)
            self.send(protocol.error_event(str(exc), code="invalid_json"))
            return
        if self.trace:
            self.trace.event(self.id, "in", event.data)
        with self.changed:
            self.received.append(event)
            self.changed.notify_all()
        self.dispatch(event)

    def dispatch(self, event: protocol.Event) -> None:
        handler: Callable | None = self._HANDLERS.get(event.type)
        with self.lock:
            if self.closed.is_set():
                return
            try:
                if handler is None:
                    self.send(protocol.error_event(f"Unsupported event type: '{event.type}'.",
                                                   code="invalid_event", param="type"))
                else:
                    handler(self, event)
            except ProtocolError as exc:
                self.send(protocol.error_event(str(exc), code="invalid_value"))
            except Exception as exc:
                self.send(protocol.error_event(f"Internal service error: {exc}",
                                               type="server_error", code="internal_error"))

    # --- client events other than input -----------------------------------------------------

    def _on_session_update(self, event) -> None:
        result = cfg.apply_update(self.config, event.session, self.model,
                                  audio_generated=self.audio_generated)
        if isinstance(result, cfg.Rejection):
            self.send(protocol.error_event(result.message, code=result.code,
                                           param=result.param))
            return
        turn_changed = result.get("turn_detection") != self.config.get("turn_detection")
        self.config = result
        if turn_changed or cfg.input_rate_hz(result) != self.input_rate_hz:
            self.reset_vad()
        self.send(protocol.session_updated(cfg.echo(self.config)))

    def _on_response_create(self, event) -> None:
        if self.response is not None:
            self.send(protocol.error_event("Conversation already has an active response"))
            return
        modalities = event.response.get("modalities") or self.config["modalities"]
        voice = self.config.get("voice")
        if "audio" in modalities and not self.model.accepts_voice(str(voice)):
            self.send(protocol.error_event(f"Voice '{voice}' is not supported.",
                                           code="invalid_value", param="session.voice"))
            return
        self.start_response(list(modalities))

    def _on_response_cancel(self, event) -> None:
        if self.response is None:
            self.send(protocol.error_event("Conversation has none active response"))
            return
        self.response.cancel(self.settings.cancel_response_done)

    def _on_session_finish(self, event) -> None:
        self.send(protocol.session_finished())

    # --- responses --------------------------------------------------------------------------

    def start_response(self, modalities: list[str]) -> None:
        self._responses += 1
        text, context = self._reply()
        response = Response(self, self._responses, text, modalities, context)
        self.response = response
        self._last_response_at = time.monotonic()
        self._threads = [t for t in self._threads if t.is_alive()] + [response.thread]
        response.thread.start()

    def response_ended(self, response: Response) -> None:
        if self.response is response:
            self.response = None
        self._last_response_at = time.monotonic()

    def remember_user(self, item: dict[str, Any]) -> None:
        self._history.append(item | {"role": "user", "answered": False})

    def remember_assistant(self, item_id: str, text: str) -> None:
        self._history.append({"id": item_id, "role": "assistant", "text": text})

    def _reply(self) -> tuple[str, Context]:
        context = Context(text=str(self.config.get("instructions") or ""))
        for item in self._history:
            context.text += item.get("text", "")
            context.audio_s += item.get("audio_s", 0.0)
            context.image_sizes += item.get("images", [])
        turn = [item for item in self._history if item["role"] == "user" and not item["answered"]]
        for item in turn:
            item["answered"] = True
        replies = self.settings.replies
        if replies:
            return replies[(self._responses - 1) % len(replies)], context
        return describe_turn(turn), context

    _HANDLERS: dict[str, Callable] = {}


def describe_turn(turn: list[dict[str, Any]]) -> str:
    """The default reply: what the emulator received since the last response."""
    speech_s = sum(item.get("audio_s", 0.0) for item in turn)
    images = sum(len(item.get("images", [])) for item in turn)
    words = sum(len(item.get("text", "").split()) for item in turn)
    parts = []
    if speech_s:
        parts.append(f"I heard about {speech_s:.1f} seconds of speech")
    if words:
        parts.append(f"{'and read' if parts else 'I read'} {words} word{'s' * (words != 1)}")
    if images:
        parts.append(f"and {images} image{'s' * (images != 1)}" if parts
                     else f"I saw {images} image{'s' * (images != 1)}")
    if not parts:
        return "Hello! This is the omnichat emulator. How can I help?"
    return " ".join(parts) + "."


Session._HANDLERS = {
    protocol.SESSION_UPDATE: Session._on_session_update,
    protocol.RESPONSE_CREATE: Session._on_response_create,
    protocol.RESPONSE_CANCEL: Session._on_response_cancel,
    protocol.SESSION_FINISH: Session._on_session_finish,
    **InputMixin.HANDLERS,
}
