"""Runs the function calls of one response: confirm, validate, run concurrently, answer.

Every call gets exactly one ``CallResult`` whose ``output`` the model can read. Failures
(unknown tool, arguments that are not JSON or break the schema, a refusal, a timeout, an
exception) are answered with one short JSON object ``{"error": "..."}``, so the conversation
goes on. Outputs are capped at ``max_output_bytes`` with a visible marker.

Threads: each call runs on its own daemon thread ``omnichat-tool-<name>``, which owns nothing
but its result slot; it blocks inside the tool. The runner waits on the slot's Event until the
call's deadline; a call still running then is answered "timed out" and abandoned (daemon, so
it cannot hold up exit). ``ToolRunner.start`` runs a whole batch on the thread
``omnichat-tools``, which blocks only in those waits and in the confirmation hook, and ends
after calling ``on_done`` (not called once ``ToolRun.cancel()`` was).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from omnichat.tools.calls import FunctionCall
from omnichat.tools.registry import Tool, ToolRegistry
from omnichat.tools.schema import validate

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024
# Error texts sent to the model stay short.
MAX_ERROR_CHARS = 300

# The confirmation hook: may this call run? It blocks until the user answers.
Confirm = Callable[[FunctionCall, Tool], bool]


@dataclass(frozen=True)
class CallResult:
    """The answer to one call. ``status`` is ok, unknown, bad_arguments, refused, timeout or
    error; ``output`` is what goes back to the model in ``function_call_output``."""

    call: FunctionCall
    output: str
    status: str
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def call_id(self) -> str:
        return self.call.call_id

    @property
    def response_id(self) -> str:
        return self.call.response_id


def error_output(message: str) -> str:
    """The one short JSON object that tells the model a call failed."""
    return json.dumps({"error": message[:MAX_ERROR_CHARS]}, ensure_ascii=False)


def cap_output(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, marker included, if it is longer."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    marker = f"\n[output truncated: {len(data)} bytes, {max_bytes} allowed]"
    keep = max(0, max_bytes - len(marker.encode("utf-8")))
    return data[:keep].decode("utf-8", errors="ignore") + marker


class _Slot:
    """One running call: its thread writes ``result`` once, then sets ``done``."""

    def __init__(self, call: FunctionCall) -> None:
        self.call = call
        self.done = threading.Event()
        self.result: tuple[str, str] | None = None  # (status, output)


class ToolRun:
    """A batch running in the background (``ToolRunner.start``)."""

    def __init__(self, response_id: str) -> None:
        self.response_id = response_id
        self.cancelled = threading.Event()
        self.thread: threading.Thread | None = None

    def cancel(self) -> None:
        """Drop the results: ``on_done`` will not be called (barge-in)."""
        self.cancelled.set()

    def join(self, timeout_s: float | None = None) -> bool:
        if self.thread is not None:
            self.thread.join(timeout_s)
            return not self.thread.is_alive()
        return True


class ToolRunner:
    """Runs calls against a ``ToolRegistry``."""

    def __init__(self, registry: ToolRegistry, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
                 confirm: Confirm | None = None, yes: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.timeout_s = timeout_s
        self.max_output_bytes = max_output_bytes
        self.confirm = confirm  # None: non-interactive, so refuse unless yes
        self.yes = yes
        self._clock = clock

    def run(self, calls: Sequence[FunctionCall]) -> list[CallResult]:
        """Run ``calls`` concurrently; block until each has a result (in the calls' order)."""
        results: list[CallResult | None] = [None] * len(calls)
        slots: list[tuple[int, _Slot, float]] = []
        for index, call in enumerate(calls):
            early = self._prepare(call)
            if isinstance(early, CallResult):
                results[index] = early
            else:
                tool, arguments = early
                slots.append((index, self._launch(call, tool, arguments), self._clock()))
        for index, slot, launched in slots:
            results[index] = self._await(slot, launched)
        return [result for result in results if result is not None]

    def start(self, calls: Sequence[FunctionCall],
              on_done: Callable[[list[CallResult]], None]) -> ToolRun:
        """Run ``calls`` on a background thread; call ``on_done(results)`` unless cancelled."""
        batch = ToolRun(calls[0].response_id if calls else "")

        def _run_batch() -> None:
            results = self.run(calls)
            if not batch.cancelled.is_set():
                on_done(results)

        batch.thread = threading.Thread(target=_run_batch, name="omnichat-tools", daemon=True)
        batch.thread.start()
        return batch

    def _prepare(self, call: FunctionCall) -> CallResult | tuple[Tool, dict[str, Any]]:
        """The tool and parsed arguments, or the error result that answers the call now."""
        tool = self.registry.get(call.name)
        if tool is None or not tool.enabled:
            return self._fail(call, "unknown", f"unknown tool '{call.name[:64]}'")
        try:
            arguments = json.loads(call.arguments or "{}")
        except (ValueError, RecursionError) as exc:
            return self._fail(call, "bad_arguments", f"arguments are not valid JSON: {exc}")
        if not isinstance(arguments, dict):
            return self._fail(call, "bad_arguments", "arguments must be a JSON object")
        problem = validate(arguments, tool.parameters)
        if problem:
            return self._fail(call, "bad_arguments", problem)
        if tool.needs_confirmation and not self._confirmed(call, tool):
            return self._fail(call, "refused", f"the user did not allow '{tool.name}' to run")
        return tool, arguments

    def _confirmed(self, call: FunctionCall, tool: Tool) -> bool:
        if self.yes:
            return True
        if self.confirm is None:
            return False
        try:
            return bool(self.confirm(call, tool))
        except Exception:  # a broken prompt must not run the tool
            log.debug("the confirmation prompt for %r failed", tool.name, exc_info=True)
            return False

    def _launch(self, call: FunctionCall, tool: Tool, arguments: dict[str, Any]) -> _Slot:
        slot = _Slot(call)

        def _call_tool() -> None:
            try:
                slot.result = ("ok", _as_text(tool.handler(arguments)))
            except Exception as exc:
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                slot.result = ("error", error_output(f"tool '{tool.name}' failed: {detail}"))
            slot.done.set()

        name = f"omnichat-tool-{tool.name[:32]}"
        threading.Thread(target=_call_tool, name=name, daemon=True).start()
        return slot

    def _await(self, slot: _Slot, launched: float) -> CallResult:
        remaining = self.timeout_s - (self._clock() - launched)
        finished = slot.done.wait(max(0.0, remaining))
        elapsed = self._clock() - launched
        if not finished or slot.result is None:
            message = f"tool '{slot.call.name}' timed out after {self.timeout_s:g} s"
            return CallResult(slot.call, error_output(message), "timeout", elapsed)
        status, output = slot.result
        return CallResult(slot.call, cap_output(output, self.max_output_bytes), status, elapsed)

    def _fail(self, call: FunctionCall, status: str, message: str) -> CallResult:
        return CallResult(call, error_output(message), status)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
