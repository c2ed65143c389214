"""MCP servers as tools, through the official ``mcp`` SDK (``pip install 'omnichat[mcp]'``).

``McpHub`` owns one asyncio event loop on its own thread ``omnichat-mcp``; the rest of
omnichat stays threaded and never sees the loop. On the loop, one task per server opens the
connection (a subprocess over stdio, or streamable HTTP), lists its tools into the
``ToolRegistry``, then checks it every ``ping_interval_s`` and after any failed call. A server
that fails to start, stops answering or dies is reported once through ``on_change`` (a
``ServerChange`` with a one-line message; ``start()`` returns the start-up outcomes), and its
tools are withdrawn from the registry;
the caller then sends a ``session.update`` with ``registry.session_fields()``.

Threads: ``omnichat-mcp`` blocks in the loop's selector; ``close()`` cancels the server tasks
(which closes their connections and stops their subprocesses), stops the loop, and joins it.
``call()`` is safe from any thread: it hands the coroutine to the loop and waits for its
result with a deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from omnichat.errors import UsageError
from omnichat.sanitize import clean_text
from omnichat.tools.config import McpServerConfig
from omnichat.tools.registry import Tool, ToolRegistry

log = logging.getLogger(__name__)

DEFAULT_PING_INTERVAL_S = 5.0
MAX_TOOLS_PER_SERVER = 128
MAX_LIST_PAGES = 20
MAX_DESCRIPTION_CHARS = 1024
# Time to let the server tasks close their connections on shutdown.
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ServerChange:
    """A server came up (``up``, with its tools) or is gone (``down``, tools withdrawn)."""

    server: str
    up: bool
    message: str
    tools: tuple[str, ...] = ()


class _ServerLost(Exception):
    """The connected server stopped answering; the text completes "MCP server 'x' ..."."""


class McpToolError(Exception):
    """The server answered the call with ``isError``; the text is its message."""


def require_sdk() -> None:
    """``UsageError`` with the fix when the optional ``mcp`` package is not installed."""
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise UsageError("MCP servers are configured but the 'mcp' package is not installed; "
                         "run: pip install 'omnichat[mcp]'") from None


class McpHub:
    """Connections to the configured MCP servers, their tools in ``registry``."""

    def __init__(self, registry: ToolRegistry, *,
                 on_change: Callable[[ServerChange], None] | None = None,
                 ping_interval_s: float = DEFAULT_PING_INTERVAL_S,
                 errlog: TextIO | None = None) -> None:
        self.registry = registry
        self.on_change = on_change  # called on the omnichat-mcp thread: only enqueue there
        self.ping_interval_s = ping_interval_s
        self._errlog = errlog  # where stdio servers' stderr goes (default: discarded)
        self._devnull: TextIO | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="omnichat-mcp", daemon=True)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._clients: dict[str, Any] = {}  # server name -> connected mcp.Client (loop only)
        self._wake: dict[str, asyncio.Event] = {}  # loop only: check this server now
        self._closed = False
        self._lock = threading.Lock()  # guards _pending (calls come from runner threads)
        self._pending: set[concurrent.futures.Future[str]] = set()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self, servers: Sequence[McpServerConfig]) -> list[ServerChange]:
        """Connect to the enabled ``servers``; block until each is up or has failed (at most
        its ``startup_timeout_s``). Returns one ``ServerChange`` per server."""
        require_sdk()
        if self._errlog is None:
            self._devnull = self._errlog = open(os.devnull, "w")  # noqa: SIM115 (closed in close)
        if not self._thread.is_alive():
            self._thread.start()
        waits = []
        for server in servers:
            if server.enabled:
                ready: concurrent.futures.Future[ServerChange] = concurrent.futures.Future()
                asyncio.run_coroutine_threadsafe(self._spawn(server, ready), self._loop).result()
                waits.append((server, ready, time.monotonic() + server.startup_timeout_s))
        # All servers start at once; each deadline counts from its own spawn.
        return [self._await_start(server, ready, deadline) for server, ready, deadline in waits]

    async def _spawn(self, server: McpServerConfig,
                     ready: concurrent.futures.Future[ServerChange]) -> None:
        self._wake[server.name] = asyncio.Event()
        self._tasks[server.name] = asyncio.create_task(self._serve(server, ready))

    def _await_start(self, server: McpServerConfig,
                     ready: concurrent.futures.Future[ServerChange],
                     deadline: float) -> ServerChange:
        try:
            return ready.result(timeout=max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            if not ready.cancel():  # it came up (or failed) just now
                return ready.result()
            task = self._tasks.get(server.name)
            if task is not None:
                self._loop.call_soon_threadsafe(task.cancel)
            return ServerChange(server.name, False, f"MCP server '{server.name}' did not start "
                                f"within {server.startup_timeout_s:g} s; its tools are off")

    def call(self, server: str, tool: str, arguments: dict[str, Any], timeout_s: float) -> str:
        """Call ``tool`` on ``server``; its text, or ``McpToolError``/``TimeoutError``."""
        if self._closed:
            raise McpToolError(f"MCP server '{server}' is closed")
        future = asyncio.run_coroutine_threadsafe(
            self._call(server, tool, arguments, timeout_s), self._loop)
        with self._lock:
            self._pending.add(future)
        try:
            return future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"MCP server '{server}' did not answer within {timeout_s:g} s"
                               ) from None
        except concurrent.futures.CancelledError:
            raise McpToolError("the call was cancelled") from None
        finally:
            with self._lock:
                self._pending.discard(future)

    def cancel_calls(self) -> int:
        """Cancel every call in flight (a barge-in dropped their answers); return how many.
        Their callers get ``McpToolError`` at once."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()
        return len(pending)

    async def _call(self, server: str, tool: str, arguments: dict[str, Any],
                    timeout_s: float) -> str:
        client = self._clients.get(server)
        if client is None:
            raise McpToolError(f"MCP server '{server}' is not connected")
        try:
            result = await client.call_tool(tool, arguments, read_timeout_seconds=timeout_s)
        except Exception as exc:
            self._wake[server].set()  # is the server still there? the watcher checks now
            raise McpToolError(f"MCP server '{server}': {_describe(exc)}") from None
        text = result_text(result)
        if result.is_error:
            raise McpToolError(text or "the tool reported an error")
        return text

    async def _serve(self, server: McpServerConfig,
                     ready: concurrent.futures.Future[ServerChange]) -> None:
        """The life of one server connection; ends when it fails or the hub closes."""
        message = ""
        try:
            async with self._client(server) as client:
                names = await self._register(server, client)
                self._clients[server.name] = client
                change = ServerChange(server.name, True, f"MCP server '{server.name}': "
                                      f"{len(names)} tools", tuple(names))
                if not _resolve(ready, change):
                    return  # start() gave up on this server already
                await self._watch(server, client)
            message = "closed the connection"
        except Exception as exc:  # anything the SDK raises, even exception groups: one line
            message = _lost_message(exc)
        finally:
            self._clients.pop(server.name, None)
            withdrawn = tuple(self.registry.withdraw(server.source))
        if not self._closed:
            self._report_down(server.name, message, withdrawn, ready)

    def _report_down(self, name: str, message: str, withdrawn: tuple[str, ...],
                     ready: concurrent.futures.Future[ServerChange]) -> None:
        """Down during start-up: the outcome start() returns; later: one ``on_change``."""
        starting = ServerChange(name, False, f"MCP server '{name}' {message}; its tools are off")
        if not _resolve(ready, starting):
            self._notify(ServerChange(name, False, f"MCP server '{name}' {message}; its tools "
                                      f"are withdrawn", withdrawn))

    def _client(self, server: McpServerConfig) -> Any:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client

        if server.command:
            params = StdioServerParameters(command=server.command, args=list(server.args),
                                           env=dict(server.env) or None, cwd=server.cwd)
            errlog = self._errlog if self._errlog is not None else sys.stderr
            return Client(stdio_client(params, errlog=errlog),
                          read_timeout_seconds=server.startup_timeout_s)
        if server.headers:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            http = httpx2.AsyncClient(headers=dict(server.headers))
            return Client(streamable_http_client(server.url or "", http_client=http),
                          read_timeout_seconds=server.startup_timeout_s)
        return Client(server.url or "", read_timeout_seconds=server.startup_timeout_s)

    async def _register(self, server: McpServerConfig, client: Any) -> list[str]:
        listed: list[Any] = []
        cursor = None
        for _ in range(MAX_LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            listed.extend(page.tools)
            cursor = page.next_cursor
            if not cursor or len(listed) >= MAX_TOOLS_PER_SERVER:
                break
        names = []
        for item in listed[:MAX_TOOLS_PER_SERVER]:
            if server.tools is None or item.name in server.tools:
                names.append(self.registry.add(self._tool(server, item)).name)
        return names

    def _tool(self, server: McpServerConfig, item: Any) -> Tool:
        annotations = item.annotations
        read_only = bool(annotations and annotations.read_only_hint)
        hinted = annotations.destructive_hint if annotations else None
        original, name = item.name, server.name

        def handler(arguments: dict[str, Any]) -> str:
            return self.call(name, original, arguments, server.timeout_s)

        description = clean_text(item.description or item.title or original,
                                 keep_newlines=False)[:MAX_DESCRIPTION_CHARS]
        return Tool(original, description, dict(item.input_schema or {}), handler,
                    source=server.source, confirm=server.confirm, read_only=read_only,
                    destructive=(not read_only) if hinted is None else bool(hinted))

    async def _watch(self, server: McpServerConfig, client: Any) -> None:
        """Check the server until it fails to answer (then raise) or the task is cancelled.
        The check lists its tools, bypassing the cache: ``ping`` is gone from MCP 2026-07-28."""
        wake = self._wake[server.name]
        while True:
            try:
                await asyncio.wait_for(wake.wait(), self.ping_interval_s)
            except asyncio.TimeoutError:
                pass
            wake.clear()
            try:
                await asyncio.wait_for(client.list_tools(cache_mode="bypass"), server.timeout_s)
            except asyncio.TimeoutError:
                raise _ServerLost(f"stopped answering (no reply within "
                                  f"{server.timeout_s:g} s)") from None
            except Exception as exc:
                raise _ServerLost(f"stopped: {_describe(exc)}") from None

    def _notify(self, change: ServerChange) -> None:
        if self.on_change is not None:
            try:
                self.on_change(change)
            except Exception:  # the listener's bug must not kill the loop thread
                log.debug("the MCP change listener failed on %r", change, exc_info=True)

    def close(self) -> None:
        """Disconnect every server and stop the loop thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.cancel_calls()
        if self._thread.is_alive():
            stop = asyncio.run_coroutine_threadsafe(self._cancel_all(), self._loop)
            try:
                stop.result(timeout=CLOSE_TIMEOUT_S)
            except concurrent.futures.TimeoutError:
                log.debug("MCP servers did not disconnect within %g s", CLOSE_TIMEOUT_S)
            except Exception:  # closing goes on: the loop is stopped and joined below
                log.debug("disconnecting the MCP servers failed", exc_info=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CLOSE_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()
        if self._devnull is not None:
            self._devnull.close()

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> McpHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def result_text(result: Any) -> str:
    """The text the model reads from a ``CallToolResult``."""
    parts = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        else:
            parts.append(f"[{kind} content: {getattr(block, 'mime_type', '') or 'not shown'}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts)


def _resolve(ready: concurrent.futures.Future[ServerChange], change: ServerChange) -> bool:
    """Complete the start-up future; False when it was already done (start-up is over)."""
    try:
        ready.set_result(change)
        return True
    except concurrent.futures.InvalidStateError:
        return False


def _leaf(exc: BaseException) -> BaseException:
    """The first real exception inside (anyio) exception groups."""
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, (list, tuple)) and inner:
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def _lost_message(exc: BaseException) -> str:
    """What happened to a server, completing "MCP server 'x' ..."."""
    leaf = _leaf(exc)
    if isinstance(leaf, _ServerLost):
        return str(leaf)
    message = _describe(leaf)
    return message if message.startswith("could not start") else f"failed: {message}"


def _describe(exc: BaseException) -> str:
    """One line for an exception, looking inside (anyio) exception groups."""
    exc = _leaf(exc)
    text = clean_text(str(exc), keep_newlines=False).strip()
    if isinstance(exc, FileNotFoundError):
        return f"could not start: command not found ({text})"
    if isinstance(exc, OSError) and not text:
        return f"could not start ({type(exc).__name__})"
    return (text or type(exc).__name__)[:200]
