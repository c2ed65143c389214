"""Function calls as the service streams them, collected per response; no I/O.

The service announces each call with ``response.output_item.added`` (an item of type
``function_call``), may stream its arguments in ``response.function_call_arguments.delta``
events (each with an ``obfuscation`` padding field that is not part of the arguments), ends
them with ``response.function_call_arguments.done`` (authoritative, and sometimes the only
event: the real capture's second parallel call had no delta), then ``response.output_item.done``
and finally ``response.done`` with every call in ``response.output`` (docs/protocol.md §4.10, §5.5).
``CallCollector.feed`` returns the complete calls of a response when its ``response.done``
arrives with status ``completed``; a cancelled or failed response yields none.

The answers are ``conversation.item.create`` items of type ``function_call_output`` with the
same ``call_id``, then one ``response.create`` (``answer_events``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omnichat.protocol.client import function_call_output, response_create
from omnichat.protocol.events import Event

OUTPUT_ITEM_ADDED = "response.output_item.added"
OUTPUT_ITEM_DONE = "response.output_item.done"
ARGUMENTS_DELTA = "response.function_call_arguments.delta"
ARGUMENTS_DONE = "response.function_call_arguments.done"
RESPONSE_DONE = "response.done"

# Arguments longer than this are cut (the JSON then fails to parse and the call is answered
# with an error): a misbehaving server cannot grow our memory without bound.
MAX_ARGUMENTS_CHARS = 256 * 1024
# Calls kept per response, and responses tracked at once (the oldest is forgotten first).
MAX_CALLS_PER_RESPONSE = 64
MAX_OPEN_RESPONSES = 8


@dataclass(frozen=True)
class FunctionCall:
    """One complete call the model made: run ``name`` with ``arguments`` (JSON text)."""

    call_id: str
    name: str
    arguments: str
    response_id: str
    item_id: str = ""
    output_index: int = 0


@dataclass
class _Partial:
    call_id: str
    name: str = ""
    item_id: str = ""
    output_index: int = 0
    deltas: list[str] = field(default_factory=list)
    delta_chars: int = 0
    done_arguments: str | None = None

    def add_delta(self, text: str) -> None:
        room = MAX_ARGUMENTS_CHARS - self.delta_chars
        if room > 0:
            self.deltas.append(text[:room])
            self.delta_chars += min(len(text), room)

    def arguments(self) -> str:
        if self.done_arguments is not None:
            return self.done_arguments
        return "".join(self.deltas)


class CallCollector:
    """Feed every server event; get each response's function calls when it is done.

    Pure and single-threaded: the engine's receive path owns it.
    """

    def __init__(self) -> None:
        self._open: dict[str, dict[str, _Partial]] = {}

    def feed(self, event: Event) -> list[FunctionCall]:
        """Take one server event; return the calls of a response that just completed."""
        data = event.data
        kind = event.type
        if kind == RESPONSE_DONE:
            return self._finish(data.get("response"))
        if kind in (OUTPUT_ITEM_ADDED, OUTPUT_ITEM_DONE):
            item = data.get("item")
            if isinstance(item, Mapping) and item.get("type") == "function_call":
                self._update(_str(data.get("response_id")), item, data.get("output_index"))
        elif kind == ARGUMENTS_DELTA:
            partial = self._partial(_str(data.get("response_id")), data)
            if partial is not None:
                partial.add_delta(_str(data.get("delta")))
        elif kind == ARGUMENTS_DONE:
            partial = self._partial(_str(data.get("response_id")), data)
            if partial is not None:
                partial.name = _str(data.get("name")) or partial.name
                partial.done_arguments = _str(data.get("arguments"))[:MAX_ARGUMENTS_CHARS]
        return []

    def discard(self, response_id: str) -> None:
        """Forget a response's calls (it was cancelled by a barge-in)."""
        self._open.pop(response_id, None)

    def _partial(self, response_id: str, data: Mapping[str, Any]) -> _Partial | None:
        call_id = _str(data.get("call_id"))
        if not response_id or not call_id:
            return None
        calls = self._calls(response_id)
        partial = calls.get(call_id)
        if partial is None:
            if len(calls) >= MAX_CALLS_PER_RESPONSE:
                return None
            partial = calls[call_id] = _Partial(call_id)
        partial.item_id = _str(data.get("item_id")) or partial.item_id
        index = data.get("output_index")
        if isinstance(index, int):
            partial.output_index = index
        return partial

    def _update(self, response_id: str, item: Mapping[str, Any], index: Any) -> None:
        fields = {"call_id": item.get("call_id"), "item_id": item.get("id"), "output_index": index}
        partial = self._partial(response_id, fields)
        if partial is None:
            return
        partial.name = _str(item.get("name")) or partial.name
        arguments = item.get("arguments")
        if item.get("status") == "completed" and isinstance(arguments, str):
            partial.done_arguments = arguments[:MAX_ARGUMENTS_CHARS]

    def _calls(self, response_id: str) -> dict[str, _Partial]:
        if response_id not in self._open:
            while len(self._open) >= MAX_OPEN_RESPONSES:
                self._open.pop(next(iter(self._open)))
            self._open[response_id] = {}
        return self._open[response_id]

    def _finish(self, response: Any) -> list[FunctionCall]:
        if not isinstance(response, Mapping):
            return []
        response_id = _str(response.get("id"))
        output = response.get("output")
        for index, item in enumerate(output if isinstance(output, list) else []):
            if isinstance(item, Mapping) and item.get("type") == "function_call":
                self._update(response_id, item, index)
        calls = self._open.pop(response_id, {})
        if response.get("status", "completed") != "completed":
            return []
        ordered = sorted(calls.values(), key=lambda p: p.output_index)
        return [FunctionCall(p.call_id, p.name, p.arguments(), response_id, p.item_id,
                             p.output_index) for p in ordered]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def answer_events(outputs: Iterable[tuple[str, str]]) -> list[Event]:
    """The events that answer a response's calls: one ``function_call_output`` item per
    ``(call_id, output)``, in the order given, then one ``response.create``."""
    events = [function_call_output(call_id, output) for call_id, output in outputs]
    return [*events, response_create()] if events else []
