"""Everything tools need for one conversation, built from the config: the registry (built-in
tools plus the MCP servers' tools), the runner, and the MCP connections.

The engine uses it as::

    with Toolbox(config, attachments=paths, confirm=ask, on_change=events.put) as box:
        box.start()                                  # MCP servers up (or reported down)
        session["tools"] = box.session_fields()      # in session.update
        ...
        calls = collector.feed(event)                # CallCollector, on the receive path
        run = box.runner.start(calls, on_done)       # results -> function_call_output items

and ``omnichat tools`` as ``render_tools(box.rows(), console)`` after ``box.start()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import Any

from omnichat.errors import ConfigError
from omnichat.tools.builtin import builtin_tools
from omnichat.tools.config import ToolsConfig
from omnichat.tools.listing import ToolRow, list_tools
from omnichat.tools.mcp_client import McpHub, ServerChange
from omnichat.tools.registry import ToolRegistry
from omnichat.tools.runner import Confirm, ToolRunner


class Toolbox:
    """Registry, runner and MCP hub for one session; a context manager (closes the hub)."""

    def __init__(self, config: ToolsConfig, *, attachments: Sequence[Path] = (),
                 confirm: Confirm | None = None, yes: bool = False,
                 on_change: Callable[[ServerChange], None] | None = None,
                 tz: tzinfo | None = None) -> None:
        self.config = config
        self.registry = ToolRegistry(builtin_tools(config.builtin, attachments,
                                                   tz=tz or _zone(config.timezone)))
        self.runner = ToolRunner(self.registry, timeout_s=config.timeout_s,
                                 max_output_bytes=config.max_output_bytes,
                                 confirm=confirm, yes=yes)
        self._on_change = on_change
        self.hub: McpHub | None = None
        # Servers that are down -> their one-line reason. Written on the caller's thread in
        # start() and on the omnichat-mcp thread later; single dict stores, no lock needed.
        self.down: dict[str, str] = {}
        self._apply_overrides()

    def start(self) -> list[ServerChange]:
        """Connect the enabled MCP servers (blocks up to their start-up timeouts)."""
        servers = [s for s in self.config.servers if s.enabled]
        if not servers:
            return []
        self.hub = McpHub(self.registry, on_change=self._changed)
        changes = self.hub.start(servers)
        for change in changes:
            if not change.up:
                self.down[change.server] = change.message
        self._apply_overrides()
        return changes

    def _changed(self, change: ServerChange) -> None:
        if not change.up:
            self.down[change.server] = change.message
        if self._on_change is not None:
            self._on_change(change)

    def rows(self) -> list[ToolRow]:
        """What ``omnichat tools`` shows: every tool, and each server that is down."""
        return list_tools(self.registry, down=dict(self.down))

    def session_fields(self) -> dict[str, Any]:
        """``tools`` and ``tool_choice`` for ``session.update``."""
        return self.registry.session_fields(self.config.tool_choice)

    def _apply_overrides(self) -> None:
        for name in self.config.disabled:
            self.registry.configure(name, enabled=False)
        for name in self.config.confirm:
            self.registry.configure(name, confirm=True)

    def close(self) -> None:
        if self.hub is not None:
            self.hub.close()

    def __enter__(self) -> Toolbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"config: [tools] 'timezone': unknown time zone '{name}'; "
                          f"use an IANA name such as Europe/Berlin") from None
