"""``--events PATH|-``: one JSON object per line for each thing a user would see.

The event types and their fields are documented in docs/events.md and are a stable interface
(scripts depend on them): add fields, never rename or remove them. Every object has
``type`` and ``time`` (ISO 8601, UTC, milliseconds).

``EventTee`` wraps the session's view: each engine update reaches the view and
``EventSink.observe`` on the main thread, in the order the engine put them, so the event
stream follows the conversation exactly as the screen does. Tool calls and results are not
engine updates: ``tool_hooks`` puts ``ToolCalled``/``ToolFinished`` on the engine's updates
queue from the receiver and tool threads, so they take their place in that same order.
``emit`` holds ``_lock`` across one write and flush (a line is never interleaved);
it blocks only on the file or pipe. A reader that went away ends the events, not the
session (one warning on stderr).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from omnichat.engine import actions as act
from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.errors import UsageError
from omnichat.private_file import FILE_MODE, make_private_dirs, special_file
from omnichat.sanitize import escape_controls

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class ToolCalled(up.Update):
    """The model asked for a tool (events only; the view shows the tools' own notices)."""

    call: act.CallTool


@dataclass(frozen=True)
class ToolFinished(up.Update):
    """A tool call's transcript line was written: its result, or that it was cancelled."""

    turn: Turn


def stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class EventSink:
    """Writes events to ``handle``; see the module docstring."""

    def __init__(self, handle: IO[str], *, owned: bool):
        self._handle = handle
        self._owned = owned  # a file we opened (closed by close()), not stdout
        self._lock = threading.Lock()
        self._broken = False
        self._status: up.Status | None = None
        self._recording = False  # push-to-talk: the last PushToTalkChanged said recording

    def emit(self, type_name: str, **fields: Any) -> None:
        record = {"type": type_name, "time": stamp(),
                  **{k: v for k, v in fields.items() if v is not None}}
        line = escape_controls(json.dumps(record, ensure_ascii=False)) + "\n"
        with self._lock:
            if self._broken:
                return
            try:
                self._handle.write(line)
                self._handle.flush()
            except (OSError, ValueError) as exc:  # a closed pipe or file
                self._broken = True
                sys.stderr.write(f"omnichat: warning: the event stream stopped: {exc}\n")

    def observe(self, update: up.Update) -> None:
        """One engine update (main thread): zero or more events."""
        if isinstance(update, up.StatusChanged):
            self._status_changed(update.status)
        elif isinstance(update, up.PushToTalkChanged):
            if update.recording != self._recording:
                self._recording = update.recording
                self.emit("speech.started" if update.recording else "speech.stopped")
        elif isinstance(update, up.TurnFinished):
            self._turn(update.turn)
        elif isinstance(update, up.AssistantStarted):
            self.emit("assistant.started", response_id=update.response_id)
        elif isinstance(update, up.AssistantDelta):
            self.emit("assistant.delta", response_id=update.response_id, text=update.text)
        elif isinstance(update, up.Interrupted):
            self.emit("interrupted", response_id=update.response_id,
                      heard_chars=update.heard_chars)
        elif isinstance(update, up.Notice):
            self.emit("notice", level=update.level, text=update.text)
        elif isinstance(update, up.MicMuted):
            self.emit("microphone", muted=update.muted)
        elif isinstance(update, up.Failed):
            self.emit("error", message=str(update.error))
        elif isinstance(update, ToolCalled):
            self.emit("tool.call", call_id=update.call.call_id, name=update.call.name,
                      arguments=update.call.arguments, response_id=update.call.response_id)
        elif isinstance(update, ToolFinished):
            self._tool_result(update.turn)

    def _status_changed(self, status: up.Status) -> None:
        """Statuses as events; the user speaks while the status is "hearing you" or, after
        cutting a reply, "interrupted" (engine/state.py ``_compute_status``)."""
        before, self._status = self._status, status
        if status == before:
            return
        speaking = (up.HEARING, up.INTERRUPTED)
        if before in speaking and status not in speaking:
            self.emit("speech.stopped")
        if before == up.RECONNECTING and status != up.CLOSED:
            self.emit("reconnected")
        if status == up.LISTENING:
            self.emit("listening")
        elif status in speaking and before not in speaking:
            self.emit("speech.started")
        elif status == up.RECONNECTING:
            self.emit("reconnecting")

    def _turn(self, turn: Turn) -> None:
        record = turn.to_record()
        if turn.role == "user":
            self.emit("user.turn", **{k: record.get(k) for k in
                                      ("text", "item_id", "status", "duration_ms")})
        elif turn.role == "assistant":
            self.emit("assistant.turn", **{k: record.get(k) for k in (
                "text", "response_id", "interrupted", "heard", "unheard", "status",
                "latency_ms", "usage")})

    def _tool_result(self, turn: Turn) -> None:
        record = turn.to_record()
        self.emit("tool.result", **{k: record.get(k) for k in (
            "call_id", "name", "status", "output", "elapsed_ms", "response_id")})

    def close(self) -> None:
        with self._lock:
            self._broken = True  # nothing after the end
            if self._owned:
                try:
                    self._handle.close()
                except OSError:
                    pass


def open_events(target: str | None) -> EventSink | None:
    """``-`` is stdout; a path is created (private: it holds the conversation) or emptied."""
    if target is None:
        return None
    if target == "-":
        return EventSink(sys.stdout, owned=False)
    path = Path(target)
    kind = special_file(path)
    if kind is not None and kind != "a FIFO":
        raise UsageError(f"--events {path}: it is {kind}, not a regular file")
    try:
        if path.parent != Path(""):
            make_private_dirs(path.parent)
        fd = os.open(path, _OPEN_FLAGS, FILE_MODE)
    except OSError as exc:
        raise UsageError(f"cannot write the events to {path}: {exc.strerror or exc}; "
                         "choose another path with --events") from exc
    return EventSink(os.fdopen(fd, "w", encoding="utf-8"), owned=True)


class EventTee:
    """A view that also tells the event sink; everything else goes to the wrapped view."""

    def __init__(self, view: Any, sink: EventSink):
        self.view = view
        self.sink = sink

    def apply(self, update: up.Update) -> None:
        self.sink.observe(update)
        if not isinstance(update, (ToolCalled, ToolFinished)):
            self.view.apply(update)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.view, name)


def tool_hooks(callbacks: dict[str, Any], engine: Callable[[], Any]) -> dict[str, Any]:
    """``callbacks`` (the engine's tool callbacks) with each call also queued as an event."""
    original = callbacks.get("on_tool_call")

    def on_tool_call(action: act.CallTool) -> None:
        engine().updates.put(ToolCalled(action))
        if original is not None:
            original(action)

    return {**callbacks, "on_tool_call": on_tool_call}


def tool_result_observer(engine: Callable[[], Any]) -> Callable[[Turn], None]:
    """A transcript observer that queues each tool line as a ``ToolFinished`` event."""
    def observe(turn: Turn) -> None:
        if turn.role == "tool":
            engine().updates.put(ToolFinished(turn))
    return observe
