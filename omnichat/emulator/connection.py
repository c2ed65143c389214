"""``EmulatorConnection``: one client connection and the service session it carries.

Composition, one job each: ``Wire`` (wire.py) owns the socket writes, ``FaultPlan``
(faults.py) the armed faults, ``Recording`` (recording.py, tests only) the frames seen,
``History`` (history.py) what the model has read, ``UserInput`` (input.py) audio/images/text
items, ``Transcription`` the timing of input transcripts, ``Response`` (responder.py) one reply.

Threads: the websockets handler thread ``omnichat-emulator-conn-N`` runs ``run()``: it blocks
in ``recv`` with a deadline (the idle and session-cap limits), and ``Wire.wait_room`` (when the
client reads slower than we answer). Closing the websocket (client, emulator shutdown, a
fault) ends its ``recv``. ``lock`` guards the session state (config, response, input, history);
it is held while handling one client event or one response step and only queues frames, so it
is never held across a socket write or a stall.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from omnichat import protocol
from omnichat.catalog import Model
from omnichat.emulator import config as cfg
from omnichat.emulator.faults import Fault, FaultKind, FaultPlan
from omnichat.emulator.function_calls import PlannedCall, answer_from_outputs, plan_calls
from omnichat.emulator.history import History, Item
from omnichat.emulator.input import UserInput
from omnichat.emulator.mcp_remote import PlannedMcp, call_tool, plan_mcp
from omnichat.emulator.options import EmulatorOptions
from omnichat.emulator.recording import Direction, Recording
from omnichat.emulator.responder import Pacer, Response
from omnichat.emulator.trace import Trace
from omnichat.emulator.transcription import Transcription
from omnichat.emulator.wire import Wire
from omnichat.errors import ProtocolError
from omnichat.protocol.events import Event, decode
from omnichat.protocol.ids import new_id

RESPONSE_JOIN_S = 10.0
Handler = Callable[["EmulatorConnection", Event], None]


class EmulatorConnection:
    def __init__(self, websocket: ServerConnection, model: Model, options: EmulatorOptions,
                 pacer: Pacer, number: int, trace: Trace | None = None) -> None:
        self.model = model
        self.options = options
        self.pacer = pacer
        self.number = number
        self.trace = trace
        self.id = new_id("sess")  # the service session's id
        self.conversation_id = new_id("conv")
        self.config = cfg.default_session(model, self.id)  # the service's session object
        self.lock = threading.RLock()  # session state; see the module docstring
        self.recording = (Recording(options.record_max_events, options.record_max_payload_bytes)
                          if options.record else None)
        self.faults = FaultPlan()
        self.wire = Wire(websocket, number=number, label=self.id,
                         send_timeout_s=options.send_timeout_s, faults=self.faults,
                         recording=self.recording, trace=trace)
        self.closed = self.wire.closed  # set once the connection is over
        self.history = History(model)
        self.transcription = Transcription(options.transcription)
        self.input = UserInput(self)
        self.response: Response | None = None
        # Server-side MCP (qwen3.8): approval request item id -> the call it would make.
        self.pending_approvals: dict[str, PlannedMcp] = {}
        self._mcp_calls = 0
        self.audio_generated = False
        self.last_item_id: str | None = None
        self._responses = 0
        self._scripted = 0  # reply-script lines used (answers to tool outputs use none)
        self._response_threads: list[threading.Thread] = []
        self.started = time.monotonic()
        self._last_response_at = self.started
        self._closing = False  # a close is queued: the limits are no longer checked

    # --- for tests --------------------------------------------------------------------------

    @property
    def websocket(self) -> ServerConnection:
        return self.wire.websocket

    connection = websocket  # the name the older tests use

    @property
    def close_code(self) -> int | None:
        """The code the emulator closed with, if it closed the connection."""
        return self.wire.close_code

    def _recorded(self) -> Recording:
        if self.recording is None:
            raise RuntimeError("this emulator does not record frames; use Emulator(record=True)")
        return self.recording

    @property
    def received(self) -> list[Event]:
        with self._recorded().changed:
            return list(self._recorded().received)

    @property
    def sent(self) -> list[dict[str, Any]]:
        with self._recorded().changed:
            return list(self._recorded().sent)

    @property
    def received_types(self) -> list[str]:
        return self._recorded().types("received")

    @property
    def sent_types(self) -> list[str]:
        return self._recorded().types("sent")

    def wait_for(self, type_name: str, *, direction: Direction = "sent", count: int = 1,
                 timeout: float = 5.0) -> Any:
        """The ``count``-th event of ``type_name`` sent (or received); TimeoutError if none."""
        return self._recorded().wait_for(type_name, direction, count, timeout)

    def wait_closed(self, timeout: float = 5.0) -> bool:
        return self.closed.wait(timeout)

    # --- sending (never blocks; the Wire's thread writes) -----------------------------------

    def send(self, event: Event | dict[str, Any]) -> None:
        self.wire.put_event(event)

    def close(self, code: int, reason: str = "") -> None:
        """Close from the server side (limits) once what is queued has been written."""
        self._closing = True
        self.wire.put_close(code, reason)
        self.pacer.wake()

    def stop(self) -> None:
        """Write nothing more and wake every waiting thread (the connection is over)."""
        self.wire.stop()
        self.pacer.wake()

    def shut_down(self) -> None:
        """The emulator is closing: like ``stop``, and a write stuck in the socket ends now."""
        self.wire.shutdown()
        self.pacer.wake()

    # --- faults -----------------------------------------------------------------------------

    def take_fault(self, fault: Fault) -> None:
        """Bind ``fault`` to this connection; instant faults are queued now."""
        if fault.kind is FaultKind.MALFORMED:
            self.wire.put_raw('{"type": "response.audio.delta", "delta": ')
        elif fault.kind is FaultKind.UNKNOWN_EVENT:
            self.send(protocol.server_event(fault.args["type"], note="emulator fault"))
        elif fault.kind is FaultKind.ERROR:
            self.send(protocol.error_event(fault.args["message"], type=fault.args["type"],
                                           code=fault.args["code"], param=fault.args["param"]))
        else:
            self.faults.bind(fault, self.wire.queued)

    # --- the handler loop -------------------------------------------------------------------

    def run(self, pending: list[Fault]) -> None:
        self.wire.thread.start()
        try:
            for fault in pending:  # armed before the connection: they count from its start
                if not fault.kind.instant:
                    self.faults.bind(fault, 0)
            self.send(protocol.session_created(self.config))
            for fault in pending:
                if fault.kind.instant:
                    self.take_fault(fault)
            self._receive_loop()
        finally:
            self.end()

    def _receive_loop(self) -> None:
        while not self.closed.is_set():
            # Once a close is queued, wait for it (recv ends when the socket closes).
            deadline_s = None if self._closing else self._next_deadline_s()
            try:
                frame = self.websocket.recv(timeout=deadline_s)
            except TimeoutError:
                self._check_limits()
                continue
            except ConnectionClosed:
                break
            self.wire.wait_room()  # a client that does not read is not read from either
            self.on_frame(frame)

    def end(self) -> None:
        self.stop()
        with self.lock:
            threads = list(self._response_threads)
        for thread in threads:
            thread.join(RESPONSE_JOIN_S)
        self.wire.thread.join(self.options.send_timeout_s + RESPONSE_JOIN_S)
        if self.recording is not None:
            self.recording.wake()

    def _next_deadline_s(self) -> float:
        now = time.monotonic()
        cap = self.started + self.options.max_session_s - now
        idle = self._last_response_at + self.options.idle_timeout_s - now
        # While a response streams, wake up every idle period to re-arm the idle deadline
        # from the moment the response ended.
        if self.response is not None:
            idle = self.options.idle_timeout_s
        return max(0.0, min(cap, idle))

    def _check_limits(self) -> None:
        now, options = time.monotonic(), self.options
        if now - self.started >= options.max_session_s:
            message = options.max_session_message()
            self.send(protocol.error_event(message, code="session_expired"))
            self.close(options.max_session_close_code, message)
        elif self.response is None and now - self._last_response_at >= options.idle_timeout_s:
            message = options.idle_message()
            self.send(protocol.error_event(message, code="response_idle_timeout"))
            self.close(options.idle_close_code, message)

    def on_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            if self.trace:
                self.trace.raw(self.id, "in", frame)
            self.send(protocol.error_event("Binary frames are not supported; send JSON text.",
                                           code="invalid_frame"))
            return
        try:
            event = decode(frame)
        except ProtocolError as exc:
            if self.trace:
                self.trace.raw(self.id, "in", frame)
            self.send(protocol.error_event(str(exc), code="invalid_json"))
            return
        if self.trace:
            self.trace.event(self.id, "in", event.data)
        if self.recording is not None:
            self.recording.add_received(event)
        self.dispatch(event)

    def dispatch(self, event: Event) -> None:
        handler = _HANDLERS.get(event.type)
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

    def on_session_update(self, event: Event) -> None:
        result = cfg.apply_update(self.config, event.get("session") or {}, self.model,
                                  audio_generated=self.audio_generated)
        if isinstance(result, cfg.Rejection):
            self.send(protocol.error_event(result.message, code=result.code,
                                           param=result.param))
            return
        turn_changed = result.get("turn_detection") != self.config.get("turn_detection")
        rate_changed = cfg.input_rate_hz(result) != self.input.rate_hz
        self.config = result
        if turn_changed or rate_changed:
            self.input.reset_vad()
        self.send(protocol.session_updated(cfg.echo(self.config)))

    def on_response_create(self, event: Event) -> None:
        if self.response is not None:
            self.send(protocol.error_event("Conversation already has an active response"))
            return
        rejection = cfg.check_response(event.get("response"))
        if rejection is not None:
            self.send(protocol.error_event(rejection.message, code=rejection.code,
                                           param=rejection.param))
            return
        modalities = (event.get("response") or {}).get("modalities") or self.config["modalities"]
        self.start_response(list(modalities))

    def on_response_cancel(self, event: Event) -> None:
        if self.response is None:
            self.send(protocol.error_event("Conversation has none active response"))
            return
        self.response.cancel(self.options.cancel_response_done)

    def on_session_finish(self, event: Event) -> None:
        self.send(protocol.session_finished())

    # --- responses (called with the lock held) ----------------------------------------------

    def start_response(self, modalities: list[str]) -> None:
        """A response, however it was asked for (response.create, the VAD, an MCP result).
        A voice the model does not have fails here on every model, as on the service:
        session.updated accepted it (docs/qwen38.md, the late voice error)."""
        voice = cfg.voice(self.config)
        if "audio" in modalities and not self.model.accepts_voice(str(voice)):
            self.send(protocol.error_event(f"Voice '{voice}' is not supported.",
                                           code="invalid_value", param="session.voice"))
            return
        self._responses += 1
        context = self.history.context(str(self.config.get("instructions") or ""),
                                       self.config.get("tools") or [])
        text, calls, mcp = self._reply(self.history.take_turn())
        response = Response(self, self._responses, text, modalities, context, calls, mcp)
        self.response = response
        self._last_response_at = time.monotonic()
        self._response_threads = [t for t in self._response_threads if t.is_alive()]
        self._response_threads.append(response.thread)
        response.thread.start()

    def response_ended(self, response: Response) -> None:
        if self.response is response:
            self.response = None
        self._last_response_at = time.monotonic()

    def remember(self, item: Item) -> None:
        self.history.add(item)

    # --- server-side MCP (called with the lock held; mcp_remote.py has the rule) ----------

    def mcp_answered(self, request_id: str, approve: bool) -> None:
        """The client answered an approval request: call the tool, or say it was declined."""
        planned = self.pending_approvals.pop(request_id)
        if approve:
            self.start_mcp_call(planned, request_id)
            return
        self.remember(Item(new_id("item"), "tool",
                           text=f"not called: the user declined {planned.server_label}."
                                f"{planned.name}"))
        if self.response is None:
            self.start_response(list(self.config["modalities"]))

    def start_mcp_call(self, planned: PlannedMcp, request_id: str | None) -> None:
        """Call the MCP server on ``omnichat-emulator-mcp-N`` (HTTP, never under the lock);
        then add the ``mcp_call`` item and answer from it."""
        self._mcp_calls += 1
        thread = threading.Thread(target=self._mcp_call, args=(planned, request_id),
                                  name=f"omnichat-emulator-mcp-{self._mcp_calls}")
        self._response_threads.append(thread)
        thread.start()

    def _mcp_call(self, planned: PlannedMcp, request_id: str | None) -> None:
        output, error = call_tool(planned)
        with self.lock:
            if self.closed.is_set():
                return
            item_id = new_id("item")
            item = {"id": item_id, "object": "realtime.item", "type": "mcp_call",
                    "status": "completed", "server_label": planned.server_label,
                    "name": planned.name, "arguments": planned.arguments,
                    "output": output or None, "error": error or None}
            if request_id:
                item["approval_request_id"] = request_id
            self.send(protocol.item_created(item, self.last_item_id))
            self.last_item_id = item_id
            self.remember(Item(item_id, "tool", text=output or f"error: {error}"))
            if self.response is None:
                self.start_response(list(self.config["modalities"]))

    def _reply(self, turn: list[Item]) -> tuple[str, list[PlannedCall], PlannedMcp | None]:
        """What the response says, or the functions it calls (function_calls.py's rule), or
        the server-side MCP tool it calls (mcp_remote.py's rule)."""
        outputs = [item.text for item in turn if item.role == "tool"]
        if outputs:  # the client answered our calls: say what they returned
            return answer_from_outputs(outputs), [], None
        replies = self.options.replies
        script_line = None
        if replies:
            script_line = replies[self._scripted % len(replies)]
            self._scripted += 1
        user_text = " ".join(item.transcript or item.text for item in turn
                             if item.role == "user")
        mcp = plan_mcp(self.config, script_line, user_text)
        calls = [] if mcp is not None else plan_calls(self.config, script_line, user_text)
        return (script_line if script_line is not None else describe_turn(turn)), calls, mcp


def describe_turn(turn: list[Item]) -> str:
    """The default reply: what the emulator received since the last response."""
    speech_s = sum(item.audio_s for item in turn)
    images = sum(len(item.images) for item in turn)
    words = sum(len(item.text.split()) for item in turn)
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


_HANDLERS: dict[str, Handler] = {
    protocol.SESSION_UPDATE: EmulatorConnection.on_session_update,
    protocol.RESPONSE_CREATE: EmulatorConnection.on_response_create,
    protocol.RESPONSE_CANCEL: EmulatorConnection.on_response_cancel,
    protocol.SESSION_FINISH: EmulatorConnection.on_session_finish,
}


def _input_handler(method: Callable[[UserInput, Event], None]) -> Handler:
    def handle(connection: EmulatorConnection, event: Event) -> None:
        method(connection.input, event)
    return handle


_HANDLERS.update({name: _input_handler(method) for name, method in UserInput.HANDLERS.items()})
