"""Tools in a conversation: the ``Toolbox`` of ``talk``/``ptt`` wired to the engine.

``ToolSession`` owns the toolbox (built-in tools, attachments, MCP servers) for one
conversation. Before the engine starts, ``start()`` connects the MCP servers and returns one
line per server; ``session_fields()`` goes into the session (``tools``, ``tool_choice``).
Then ``attach(engine)`` and the engine's callbacks do the rest::

    receiver   CallTool --on_tool_call--> Notice, ToolRunner.start([call]) (own thread)
    omnichat-tools   result -> Notice, transcript line, engine.command(ToolResult)
    any thread       ToolCallsDropped --on_dropped--> ToolRun.cancel(): its result is dropped
    omnichat-mcp     a server died -> Notice, engine.command(UpdateSession(session without
                     its tools))
    receiver   AskMcpApproval / McpCallDone --on_mcp--> McpApprovals (server-side MCP:
               the service calls ``[mcp.remote.NAME]`` servers; mcp_approvals.py)

``omnichat-tools`` blocks in the tool (up to its timeout) and, for a tool that must be
confirmed, in ``prompt.ask`` (the key thread's y/n unblocks it; set ``prompt`` once the
keyboard is read). Each call runs as its own batch, so the calls of one response run
concurrently, each with its timeout (``[tools] timeout_s``); results go back in the order of
the calls. ``_runs``, ``_calls``, ``_order`` and ``_ready`` are guarded by ``_lock`` (never
held across an engine command). The state machine drops a late result anyway; the cancel
stops it being shown.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console

from omnichat.engine import actions as act
from omnichat.engine import commands as cmd
from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.errors import UsageError
from omnichat.sanitize import clean_text
from omnichat.session.mcp_approvals import McpApprovals
from omnichat.tools import FunctionCall, Toolbox, ToolsConfig, parse_tools_config
from omnichat.tools.builtin import BUILTIN_IDS
from omnichat.tools.mcp_client import ServerChange
from omnichat.tools.registry import Tool
from omnichat.tools.remote import remote_rows, remote_tools
from omnichat.tools.runner import CallResult, ToolRun

if TYPE_CHECKING:
    from omnichat.config.settings import Settings
    from omnichat.engine import Engine
    from omnichat.transcript import TranscriptWriter

SCREEN_CHARS = 120  # arguments and outputs on screen are cut here
TRANSCRIPT_CHARS = 2000  # and in the transcript here


@dataclass
class ToolOptions:
    """The tool flags of ``talk``/``ptt``: ``--attach``, ``--tools``, ``--yes``."""

    attachments: tuple[Path, ...] = ()
    builtin: tuple[str, ...] | None = None  # --tools: replaces [tools] builtin
    yes: bool = False


class Asker(Protocol):
    """The live view's y/n question (``keys.ConfirmPrompt``): ``ask`` shows ``text``
    and blocks the tool runner's thread until the user answers (or a timeout: no)."""

    def ask(self, text: str) -> bool: ...


def parse_tool_names(text: str | None) -> tuple[str, ...] | None:
    """``--tools time,calculator`` -> the built-in ids; one clear line for a wrong name."""
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if name not in BUILTIN_IDS:
            raise UsageError(f"--tools: unknown built-in tool '{clean_text(name)[:40]}'; "
                             f"choose from {', '.join(BUILTIN_IDS)}")
    return names


def tools_config(settings: Settings, options: ToolOptions | None = None) -> ToolsConfig:
    """The ``[tools]`` and ``[mcp.servers.*]`` tables of the settings, with the flags."""
    table: dict[str, Any] = dict(settings.tools)
    if options is not None and options.builtin is not None:
        table["builtin"] = list(options.builtin)
    origin = str(settings.config_file) if settings.config_file else "config"
    return parse_tools_config(table, {"servers": dict(settings.mcp_servers)}, origin=origin)


def check_attachments(paths: tuple[Path, ...]) -> None:
    for path in paths:
        if not path.is_file():
            raise UsageError(f"--attach {path}: no such file; name a readable text file")


def cut(text: str, limit: int) -> str:
    text = clean_text(text, keep_newlines=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass
class ToolTurn(Turn):
    """A transcript line for one tool call (``role`` "tool")."""

    name: str = ""
    call_id: str = ""
    arguments: str = ""
    output: str = ""
    elapsed_ms: float | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "role": "tool", "text": self.text,
            "timestamp": self.started_at.isoformat(timespec="milliseconds"),
            "name": self.name, "call_id": self.call_id,
            "arguments": cut(self.arguments, TRANSCRIPT_CHARS),
            "output": cut(self.output, TRANSCRIPT_CHARS), "status": self.status}
        if self.response_id:
            record["response_id"] = self.response_id
        if self.elapsed_ms is not None:
            record["elapsed_ms"] = round(self.elapsed_ms, 1)
        return record


class ToolSession:
    """The tools of one conversation; a context manager (closes the MCP servers)."""

    def __init__(self, config: ToolsConfig, options: ToolOptions, *,
                 writer: TranscriptWriter | None = None,
                 remote: list[dict[str, Any]] | None = None) -> None:
        check_attachments(options.attachments)
        # [mcp.remote.NAME] entries (type "mcp"): sent as they are; the service calls them.
        self.remote = list(remote or [])
        self.approvals = McpApprovals(self._notify, yes=options.yes, record=self._record_mcp)
        # Set once the keyboard is read (the key session is made after the engine); while
        # None the run is not interactive: a call that must be confirmed is refused unless
        # --yes. Read on the runner's thread at the moment it asks.
        self.prompt: Asker | None = None
        self.box = Toolbox(config, attachments=options.attachments, yes=options.yes,
                           confirm=self._confirm, on_change=self.on_server_change)
        self.writer = writer
        self._engine: Engine | None = None
        # Guards the four dicts below (receiver, main and tool threads); never held across
        # an engine command or a transcript write.
        self._lock = threading.Lock()
        self._runs: dict[str, ToolRun] = {}
        self._calls: dict[str, FunctionCall] = {}
        self._order: dict[str, list[str]] = {}  # response id -> its open calls, in order
        self._ready: dict[str, CallResult] = {}  # finished, waiting for an earlier call
        self.early_notices: list[str] = []  # before attach(): shown by the caller
        self._closed = False

    @property
    def active(self) -> bool:
        """Any tool offered, or a server configured (its tools may come later)."""
        return bool(self.box.registry.tools(enabled_only=True) or self.box.config.servers)

    def start(self) -> list[str]:
        """Connect the MCP servers; one line per server (up with its tools, or why not)."""
        return [clean_text(change.message, keep_newlines=False)
                for change in self.box.start()]

    def session_fields(self, *, withdrawn: bool = False) -> dict[str, Any]:
        """``tools`` and ``tool_choice``; ``withdrawn``: also when none is left (an empty
        list replaces the tools of a server that went away)."""
        fields = self.box.session_fields() if self.active or withdrawn else {}
        if self.remote:
            fields["tools"] = [*fields.get("tools", []), *self.remote]
        return fields

    def attach(self, engine: Engine) -> Engine:
        """From now on calls reach ``engine`` (returned); lines from the start are shown."""
        self._engine = engine
        self.approvals.attach(engine)
        for text in self.early_notices:
            engine.updates.put(up.Notice(text, level="info"))
        self.early_notices.clear()
        return engine

    def running(self) -> list[ToolRun]:
        """The runs whose results are still wanted."""
        with self._lock:
            return list(self._runs.values())

    def engine_callbacks(self) -> dict[str, Any]:
        """The ``Engine`` keyword arguments that hand calls to this session."""
        return {"on_tool_call": self.on_tool_call, "on_tools_dropped": self.on_dropped,
                "on_mcp": self.approvals.on_action}

    # ---- the engine's callbacks ---------------------------------------------------------

    def on_tool_call(self, action: act.CallTool) -> None:
        call = FunctionCall(action.call_id, action.name, action.arguments, action.response_id)
        self._progress(call, f"tool {cut(call.name, 40)}({cut(call.arguments, SCREEN_CHARS)}) "
                       "...")
        with self._lock:
            self._calls[call.call_id] = call
            self._order.setdefault(call.response_id, []).append(call.call_id)
            self._runs[call.call_id] = self.box.runner.start([call], self._done)

    def on_dropped(self, call_ids: tuple[str, ...]) -> None:
        """The user moved on: these results are not wanted (a finished one not yet sent
        is forgotten too)."""
        for call_id in call_ids:
            with self._lock:
                run = self._runs.pop(call_id, None)
                call = self._calls.pop(call_id, None)
                self._ready.pop(call_id, None)
                for response_id, order in list(self._order.items()):
                    if call_id in order:
                        order.remove(call_id)
                    if not order:
                        del self._order[response_id]
            if run is None or call is None:
                continue
            run.cancel()
            self._progress(call, f"tool {cut(call.name, 40)}: cancelled (you moved on); "
                           "its result will not be sent", "cancelled")
            self._record(call, "", "cancelled", None)

    def _done(self, results: list[CallResult]) -> None:
        """omnichat-tools: one call finished (and was not cancelled)."""
        for result in results:
            with self._lock:
                known = self._runs.pop(result.call_id, None) is not None
                self._calls.pop(result.call_id, None)
            if not known:
                continue  # dropped between the run's check and here
            self._progress(result.call, f"tool {cut(result.call.name, 40)}: {result.status}: "
                           f"{cut(result.output, SCREEN_CHARS)}", result.status,
                           result.output)
            self._record(result.call, result.output, result.status, result.elapsed_s)
            with self._lock:
                self._ready[result.call_id] = result
            self._send_ready(result.response_id)

    def _send_ready(self, response_id: str) -> None:
        """Send the finished results of a response in the order the model made the calls
        (as the real client in the capture does); a result waits for the calls before it."""
        while True:
            with self._lock:
                order = self._order.get(response_id) or []
                result = self._ready.pop(order[0], None) if order else None
                if result is None:
                    if not order:
                        self._order.pop(response_id, None)
                    return
                order.pop(0)
            engine = self._engine
            if engine is not None and not engine.stopping:  # nothing after the session ends
                engine.command(cmd.ToolResult(result.call_id, result.output))

    def _confirm(self, call: FunctionCall, tool: Tool) -> bool:
        prompt = self.prompt
        if prompt is None or self._closed:
            return False  # not interactive (the runner already let --yes through)
        return prompt.ask(f"allow tool {cut(tool.name, 40)}"
                          f"({cut(call.arguments, SCREEN_CHARS)})?")

    def on_server_change(self, change: ServerChange) -> None:
        """omnichat-mcp: a server came up late or went down; the session follows (the
        engine's session object is updated too, so a reconnect replays it)."""
        self._notify(change.message)
        engine = self._engine
        if engine is not None and not change.up:
            session = engine.conversation.session
            session.update(self.session_fields(withdrawn=True))
            engine.command(cmd.UpdateSession(dict(session)))

    # ---- output ---------------------------------------------------------------------------

    def _notify(self, text: str) -> None:
        text = clean_text(text, keep_newlines=False)
        if self._engine is None:
            self.early_notices.append(text)
        else:
            self._engine.updates.put(up.Notice(text, level="info"))

    def _progress(self, call: FunctionCall, text: str, status: str | None = None,
                  output: str = "") -> None:
        """A call started or ended: the views show it as the reply's content."""
        if self._engine is None:
            self._notify(text)
            return
        self._engine.updates.put(up.ToolProgress(
            clean_text(text, keep_newlines=False), level="info",
            name=cut(call.name, 40), call_id=call.call_id, response_id=call.response_id,
            arguments=cut(call.arguments, SCREEN_CHARS), status=status,
            output=cut(output, SCREEN_CHARS)))

    def _record(self, call: FunctionCall, output: str, status: str,
                elapsed_s: float | None) -> None:
        if self.writer is None:
            return
        turn = ToolTurn("tool", text=f"{call.name}: {status}", response_id=call.response_id,
                        status=status, name=call.name, call_id=call.call_id,
                        arguments=call.arguments, output=output,
                        elapsed_ms=None if elapsed_s is None else elapsed_s * 1000)
        self.writer.write(turn)

    def _record_mcp(self, tool: str, arguments: str, output: str, status: str) -> None:
        if self.writer is None:
            return
        self.writer.write(ToolTurn("tool", text=f"{tool}: {status}", status=status, name=tool,
                                   arguments=arguments, output=output))

    # ---- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._closed = True
        self.approvals.close()
        with self._lock:
            runs, self._runs = list(self._runs.values()), {}
        for run in runs:
            run.cancel()
        self.box.close()

    def __enter__(self) -> ToolSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_tools(settings: Settings, options: ToolOptions, *,
               writer: TranscriptWriter | None = None) -> ToolSession:
    """A started ``ToolSession``: MCP servers connected, one line each (shown on attach)."""
    from omnichat.tools.listing import tools_on_line

    origin = str(settings.config_file) if settings.config_file else "config"
    remote = remote_tools(settings.mcp_remote, settings.model, origin)
    session = ToolSession(tools_config(settings, options), options, writer=writer,
                          remote=remote)
    try:
        session.early_notices += session.start()
        on = tools_on_line(session.box.rows())
        if on:
            session.early_notices.append(on)
    except BaseException:
        session.close()
        raise
    return session


def show_tools(settings: Settings, options: ToolOptions, *, as_json: bool = False,
               console: Console | None = None) -> None:
    """``omnichat tools``: every tool (built-ins that are off too) with its source and
    whether it is enabled; MCP servers are started to list theirs, then closed."""
    import json
    from dataclasses import asdict

    from omnichat.tools.builtin import builtin_tools
    from omnichat.tools.listing import render_tools

    config = tools_config(settings, options)
    check_attachments(options.attachments)
    with Toolbox(config, attachments=options.attachments) as box:
        for tool in builtin_tools([i for i in BUILTIN_IDS if i not in config.builtin]):
            if box.registry.get(tool.name) is None:
                box.registry.add(replace(tool, enabled=False))
        box.start()
        origin = str(settings.config_file) if settings.config_file else "config"
        rows = box.rows() + remote_rows(settings.mcp_remote, settings.model, origin)
    console = console or Console()
    if as_json:
        console.file.write(json.dumps([asdict(row) for row in rows], ensure_ascii=False,
                                      indent=2) + "\n")
    else:
        render_tools(rows, console)
