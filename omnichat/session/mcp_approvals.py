"""Server-side MCP in a conversation (qwen3.8, docs/qwen38.md): approvals and call results.

The service asks before it calls a tool of an ``[mcp.remote.NAME]`` server; the engine hands
the request over (``AskMcpApproval``, on the receiver thread, which must not block). Each
request gets its own thread ``omnichat-mcp-approval``: it blocks in ``prompt.ask`` (the key
thread's y/n, or the prompt's timeout, unblocks it) and sends the answer with
``McpApproval``. ``--yes`` approves without asking; without a keyboard the request is
declined. ``close()`` answers a waiting question with no and joins the threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from omnichat.engine import actions as act
from omnichat.engine import commands as cmd
from omnichat.sanitize import clean_text

if TYPE_CHECKING:
    from omnichat.engine import Engine

JOIN_TIMEOUT_S = 2.0
SCREEN_CHARS = 120


class Prompt(Protocol):
    """``session.keys.ConfirmPrompt``: a y/n question answered by a key."""

    def ask(self, text: str) -> bool: ...

    def answer(self, yes: bool) -> bool: ...


def _cut(text: str, limit: int = SCREEN_CHARS) -> str:
    text = clean_text(text, keep_newlines=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


class McpApprovals:
    """Answers the service's MCP approval requests for one conversation."""

    def __init__(self, notify: Callable[[str], None], *, yes: bool = False,
                 record: Callable[[str, str, str, str], None] | None = None) -> None:
        self._notify = notify
        self._yes = yes
        self._record = record  # (tool, arguments, output, status) -> transcript line
        self.prompt: Prompt | None = None  # set once the keyboard is read
        self._engine: Engine | None = None
        self._lock = threading.Lock()  # guards _threads and _closed
        self._threads: list[threading.Thread] = []
        self._closed = False

    def attach(self, engine: Engine) -> None:
        self._engine = engine

    def on_action(self, action: act.Action) -> None:
        """The engine's ``on_mcp`` (receiver thread): start an approval, or show a result."""
        if isinstance(action, act.McpCallDone):
            tool = f"{action.server_label}.{action.name}"
            status = "error" if action.error else "ok"
            self._notify(f"mcp {_cut(tool, 60)}: {status}: "
                         f"{_cut(action.error or action.output)}")
            if self._record is not None:
                self._record(tool, "", action.error or action.output, status)
        elif isinstance(action, act.AskMcpApproval):
            thread = threading.Thread(target=self._approve, args=(action,),
                                      name="omnichat-mcp-approval")
            with self._lock:
                if self._closed:
                    return
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _approve(self, request: act.AskMcpApproval) -> None:
        """omnichat-mcp-approval: ask (blocks until y/n, timeout or close), then answer."""
        tool = f"{request.server_label}.{request.name}"
        question = f"allow the service to call {_cut(tool, 60)}({_cut(request.arguments)})?"
        prompt = self.prompt
        if self._yes:
            approve = True
        elif prompt is None:
            approve = False
            self._notify(f"declined {_cut(tool, 60)}: no keyboard to ask (use --yes)")
        else:
            approve = prompt.ask(question)
        with self._lock:
            if self._closed:
                return
        if self._record is not None:
            self._record(tool, request.arguments, "", "approved" if approve else "declined")
        engine = self._engine
        if engine is not None and not engine.stopping:
            engine.command(cmd.McpApproval(request.request_id, approve))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            threads, self._threads = self._threads, []
        prompt = self.prompt
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for thread in threads:
            while thread.is_alive() and time.monotonic() < deadline:
                if prompt is not None:
                    prompt.answer(False)  # a question on screen (or about to be): no
                thread.join(0.05)
