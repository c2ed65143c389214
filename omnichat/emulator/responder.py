"""One model response, streamed by its own thread: ``response.created`` ... ``response.done``.

The thread ``omnichat-emulator-response-N`` owns the pacing. It blocks in ``Pacer.wait_until``
(a condition wait with a deadline; ``cancel()`` and connection close notify it), in
``Pacer.wait_released`` (tests hold responses) and in ``Wire.wait_room`` (the client reads
slower than we stream; ends when the connection closes) - never with a lock held. Every event
is queued under the connection's state lock, and the thread re-checks ``cancelled`` under
that lock, so once ``cancel()`` returned no further delta of this response is queued.

Output items: a response produces its output items in ``_stream_items``: one assistant
message (audio+transcript or text), or - when ``calls`` is not empty - one ``function_call``
item per call, as the real service streams them (function_calls.py has the rule).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from omnichat import protocol
from omnichat.catalog import Model
from omnichat.emulator import config as cfg
from omnichat.emulator import speech
from omnichat.emulator.function_calls import PlannedCall, obfuscation
from omnichat.emulator.history import Item
from omnichat.emulator.mcp_remote import PlannedMcp
from omnichat.emulator.transcription import Transcription
from omnichat.emulator.usage import (
    CALL_GENERATED_TOKENS,
    Context,
    call_json,
    text_tokens,
    usage,
)
from omnichat.emulator.wire import Wire
from omnichat.protocol.events import Event
from omnichat.protocol.ids import new_id

PACKET_MS = 200  # ~100-300 ms per response.audio.delta, like the service
TEXT_DELTA_S = 0.05  # pause between text deltas when paced in real time
# The service generates speech faster than it plays, so a client receives audio a little
# ahead of the listener. Sending packet N exactly when packet N-1 ends playing would make any
# client underrun at every packet boundary; a real-time pace with this lead does not.
AUDIO_LEAD_S = 0.4
MAX_PENDING_APPROVALS = 32  # MCP approval requests a client has not answered yet


class Pacer:
    """Speed and the test-only hold gate, shared by all responses of an emulator."""

    def __init__(self, speed: str | float) -> None:
        if speed == "fast":
            self.factor = math.inf
        elif speed == "realtime":
            self.factor = 1.0
        else:
            self.factor = float(speed)
            if self.factor <= 0:
                raise ValueError("speed must be 'realtime', 'fast' or a positive factor")
        self.cond = threading.Condition()  # notified by cancel, close and release
        self.held_after: int | None = None  # hold every response after N audio/text packets

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def wait_until(self, deadline: float, stop: Callable[[], bool]) -> None:
        """Block until ``deadline`` (monotonic, already scaled) or until ``stop()``."""
        with self.cond:
            self.cond.wait_for(lambda: stop() or time.monotonic() >= deadline,
                               timeout=max(0.0, deadline - time.monotonic()))

    def wait_released(self, packets_sent: int, stop: Callable[[], bool]) -> None:
        with self.cond:
            self.cond.wait_for(lambda: stop() or self.held_after is None
                               or packets_sent < self.held_after)


class ResponseHost(Protocol):
    """What a ``Response`` uses of its connection (an ``EmulatorConnection``).

    Declared here so that this module does not import the connection, which imports it.
    """

    model: Model
    conversation_id: str
    config: dict[str, Any]  # the service's session object
    last_item_id: str | None
    lock: threading.RLock  # the connection's state lock
    closed: threading.Event
    pacer: Pacer
    wire: Wire
    transcription: Transcription
    audio_generated: bool
    pending_approvals: dict[str, PlannedMcp]  # MCP approval requests awaiting an answer

    def send(self, event: Event | dict[str, Any]) -> None: ...

    def remember(self, item: Item) -> None: ...

    def response_ended(self, response: Response) -> None: ...

    def start_mcp_call(self, planned: PlannedMcp, request_id: str | None) -> None: ...


class Response:
    """State of the one active response of a connection (guarded by the connection lock)."""

    def __init__(self, connection: ResponseHost, index: int, text: str,
                 modalities: list[str], context: Context,
                 calls: list[PlannedCall] | None = None,
                 mcp: PlannedMcp | None = None) -> None:
        self.conn = connection  # the connection whose service session this answers
        self.id = new_id("resp")
        self.item_id = new_id("item")
        self.text = text
        self.audio = "audio" in modalities
        self.modalities = ["text", "audio"] if self.audio else ["text"]
        self.context = context
        self.calls = list(calls or [])
        self.mcp = mcp  # a server-side MCP call: an approval request, or the call at once
        # function_call (or mcp_approval_request) items completed so far
        self.call_items: list[dict[str, Any]] = []
        self.cancelled = False
        self.sent_text = ""  # what the client has seen so far (for interrupted item events)
        self.sent_audio_s = 0.0
        self.thread = threading.Thread(target=self._run, daemon=False,
                                       name=f"omnichat-emulator-response-{index}")

    # --- shapes -----------------------------------------------------------------------------

    def envelope(self, status: str,
                 output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        s = self.conn
        return {"id": self.id, "object": "realtime.response", "conversation_id": s.conversation_id,
                "status": status, "modalities": self.modalities, "voice": cfg.voice(s.config),
                "output_audio_format": s.config.get("output_audio_format", "pcm"),
                "output": output or []}

    def item(self, status: str,
             content: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {"id": self.item_id, "object": "realtime.item", "type": "message",
                "status": status, "role": "assistant", "content": content or []}

    def part(self, text: str) -> dict[str, Any]:
        return {"type": "audio", "text": text} if self.audio else {"type": "text", "text": text}

    # --- the thread -------------------------------------------------------------------------

    def _stopped(self) -> bool:
        return self.cancelled or self.conn.closed.is_set()

    def _run(self) -> None:
        s = self.conn
        with s.lock:
            if self._stopped():
                return
            s.send(protocol.response_created(self.envelope("in_progress")))
            if not self.calls and self.mcp is None:
                s.send(protocol.output_item_added(self.id, 0, self.item("in_progress")))
                s.send(protocol.item_created(self.item("in_progress"), s.last_item_id))
                s.last_item_id = self.item_id
                s.send(protocol.content_part_added(self.id, self.item_id, self.part("")))
        self._stream_items()
        with s.lock:
            if not self._stopped():
                self._finish()

    def _stream_items(self) -> None:
        """Stream this response's output items: function calls, or the assistant message."""
        if self.mcp is not None:
            self._stream_mcp(self.mcp)
        elif self.calls:
            self._stream_calls()
        elif self.audio:
            self._stream_audio()
        else:
            self._stream_text()

    def _step(self, index: int) -> None:
        """Wait (no lock held) until packet ``index`` may be queued."""
        self.conn.pacer.wait_released(index, self._stopped)
        self.conn.wire.wait_room()

    def _delta_sent(self, index: int) -> None:
        if index == 0:
            for event in self.conn.transcription.reply_started():
                self.conn.send(event)

    def _packets(self) -> list[tuple[str, bytes]]:
        """(transcript piece, PCM) per packet: words spread evenly over the audio."""
        rate = cfg.output_rate_hz(self.conn.config)
        pcm = speech.synthesize(self.text, cfg.voice(self.conn.config), rate)
        size = rate * PACKET_MS // 1000 * 2
        chunks = [pcm[i:i + size] for i in range(0, len(pcm), size)] or [b""]
        words = self.text.split(" ")
        pieces, start = [], 0
        for index in range(len(chunks)):
            end = math.ceil(len(words) * (index + 1) / len(chunks))
            piece = " ".join(words[start:end])
            pieces.append(piece if start == 0 or not piece else " " + piece)
            start = end
        return list(zip(pieces, chunks, strict=True))

    def _stream_audio(self) -> None:
        s, pacer = self.conn, self.conn.pacer
        rate = cfg.output_rate_hz(s.config)
        t0 = time.monotonic()
        for index, (piece, pcm) in enumerate(self._packets()):
            self._step(index)
            pacer.wait_until(t0 + max(0.0, self.sent_audio_s - AUDIO_LEAD_S) / pacer.factor,
                             self._stopped)
            with s.lock:
                if self._stopped():
                    return
                if piece:
                    s.send(protocol.audio_transcript_delta(self.id, self.item_id, piece))
                    self.sent_text += piece
                s.send(protocol.audio_delta(self.id, self.item_id, pcm))
                s.audio_generated = True
                self.sent_audio_s += len(pcm) / 2 / rate
                self._delta_sent(index)

    def _stream_text(self) -> None:
        s, pacer = self.conn, self.conn.pacer
        words = self.text.split(" ")
        t0 = time.monotonic()
        for index, word in enumerate(words):
            piece = word if index == 0 else " " + word
            self._step(index)
            pacer.wait_until(t0 + index * TEXT_DELTA_S / pacer.factor, self._stopped)
            with s.lock:
                if self._stopped():
                    return
                s.send(protocol.text_delta(self.id, self.item_id, piece))
                self.sent_text += piece
                self._delta_sent(index)

    def _stream_calls(self) -> None:
        """One function_call item per call, shaped and ordered like the real capture: the
        first call's arguments come as a ``.delta`` (with ``obfuscation``), later calls of
        the same response only with ``.done``."""
        s, pacer = self.conn, self.conn.pacer
        t0 = time.monotonic()
        for index, call in enumerate(self.calls):
            self._step(index)
            pacer.wait_until(t0 + index * TEXT_DELTA_S / pacer.factor, self._stopped)
            with s.lock:
                if self._stopped():
                    return
                self._send_call(index, call)

    def _send_call(self, index: int, call: PlannedCall) -> None:
        s = self.conn
        item_id, call_id = new_id("item"), "call_" + uuid.uuid4().hex[:24]
        item = {"id": item_id, "object": "realtime.item", "type": "function_call",
                "status": "in_progress", "call_id": call_id, "name": call.name,
                "arguments": ""}
        s.send(protocol.output_item_added(self.id, index, item))
        s.send(protocol.item_created(item, s.last_item_id))
        s.last_item_id = item_id
        where = {"response_id": self.id, "item_id": item_id, "output_index": index}
        if index == 0:
            s.send(protocol.server_event("response.function_call_arguments.delta", **where,
                                         call_id=call_id, delta=call.arguments,
                                         obfuscation=obfuscation(call.arguments)))
        s.send(protocol.server_event("response.function_call_arguments.done", **where,
                                     name=call.name, call_id=call_id,
                                     arguments=call.arguments))
        done = {**item, "status": "completed", "arguments": call.arguments}
        s.send(protocol.output_item_done(self.id, index, done))
        s.remember(Item(item_id, "call", text=call_json(call.name, call.arguments)))
        self.call_items.append(done)
        self.sent_text += call_json(call.name, call.arguments)

    def _stream_mcp(self, planned: PlannedMcp) -> None:
        """An ``mcp_approval_request`` output item, or nothing when no approval is needed
        (the call starts once this response is done)."""
        s = self.conn
        self._step(0)
        with s.lock:
            if self._stopped() or not planned.needs_approval:
                return
            item = {"id": new_id("item"), "object": "realtime.item",
                    "type": "mcp_approval_request", "server_label": planned.server_label,
                    "name": planned.name, "arguments": planned.arguments}
            s.send(protocol.output_item_added(self.id, 0, item))
            s.send(protocol.output_item_done(self.id, 0, item))
            if len(s.pending_approvals) >= MAX_PENDING_APPROVALS:  # never answered: forget
                s.pending_approvals.pop(next(iter(s.pending_approvals)))
            s.pending_approvals[item["id"]] = planned
            self.call_items.append(item)

    # --- endings (called with the connection lock held) ----------------------------------------

    def _close_item(self, text: str, status: str) -> dict[str, Any]:
        """Send the *.done events of the item; return the item as response.done shows it."""
        s = self.conn
        if self.audio:
            s.send(protocol.audio_transcript_done(self.id, self.item_id, text))
            s.send(protocol.audio_done(self.id, self.item_id))
        else:
            s.send(protocol.text_done(self.id, self.item_id, text))
        s.send(protocol.content_part_done(self.id, self.item_id, self.part(text)))
        content = [{"type": "audio", "transcript": text}] if self.audio else [{"type": "text"}]
        s.send(protocol.output_item_done(self.id, 0, self.item(status, content)))
        s.remember(Item(self.item_id, "assistant", text=text))
        if not self.audio:
            content = [{"type": "text", "text": text}]
        return self.item(status, content)

    def _finish(self) -> None:
        s = self.conn
        if self.calls or self.mcp is not None:
            done = self.envelope("completed", self.call_items)
            done["usage"] = self._usage(self.sent_text)
            s.send(protocol.response_done(done))
            self._ended()
            if self.mcp is not None and not self.mcp.needs_approval:
                s.start_mcp_call(self.mcp, None)
            return
        item = self._close_item(self.text, "completed")
        done = self.envelope("completed", [item])
        done["usage"] = self._usage(self.text)
        s.send(protocol.response_done(done))
        self._ended()

    def _ended(self) -> None:
        s = self.conn
        for event in s.transcription.reply_done():
            s.send(event)
        s.response_ended(self)

    def cancel(self, done_status: str | None) -> None:
        """Stop streaming; send the item's *.done events and, if configured, response.done."""
        s = self.conn
        self.cancelled = True
        s.pacer.wake()
        items = (self.call_items if self.calls or self.mcp is not None
                 else [self._close_item(self.sent_text, "incomplete")])
        if done_status:
            done = self.envelope(done_status, items)
            done["usage"] = self._usage(self.sent_text)
            s.send(protocol.response_done(done))
        self._ended()

    def _usage(self, text: str) -> dict[str, Any]:
        s = self.conn
        generated = None
        if self.calls:  # each call's JSON plus the tokens around it
            generated = text_tokens(text) + CALL_GENERATED_TOKENS * len(self.call_items)
        return usage(s.model, self.context, output_text=text, output_text_tokens=generated,
                     output_audio_s=self.sent_audio_s if self.audio else 0.0,
                     searched=bool(s.config.get("enable_search")))
