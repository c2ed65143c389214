"""The tools a session offers the model: what each one is, where it comes from, and whether
it must be confirmed; converted to the service's function schema for ``session.update``.

The registry is shared: the MCP thread withdraws a dead server's tools while runner threads
look tools up, so every access holds ``_lock`` (held only for dict operations).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

BUILTIN = "builtin"
# The service (like OpenAI's) accepts function names of letters, digits, '_' and '-'.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EMPTY_PARAMETERS: Mapping[str, Any] = {"type": "object", "properties": {}}

# A handler takes the validated arguments and returns the text the model reads.
Handler = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Tool:
    """One function the model may call."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    handler: Handler = field(repr=False, compare=False)
    source: str = BUILTIN  # "builtin" or "mcp:<server>"
    enabled: bool = True
    confirm: bool = False  # the config says: ask before every call
    read_only: bool = True  # MCP readOnlyHint (built-ins are read-only)
    destructive: bool = False  # MCP destructiveHint

    @property
    def needs_confirmation(self) -> bool:
        """Ask the user first: configured so, or an MCP tool that may change things."""
        return self.confirm or (self.source != BUILTIN
                                 and (self.destructive or not self.read_only))

    def function_schema(self) -> dict[str, Any]:
        """The tool as the service's ``session.tools`` entry."""
        function = {"name": self.name, "description": self.description,
                    "parameters": dict(self.parameters or EMPTY_PARAMETERS)}
        return {"type": "function", "function": function}


def safe_name(name: str) -> str:
    """``name`` reduced to what the service accepts (other characters become '_')."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]
    return cleaned or "tool"


class ToolRegistry:
    """Tools by name; thread-safe."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._lock = threading.Lock()  # guards _tools (MCP thread writes, runners read)
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> Tool:
        """Register ``tool``; a name already taken gets the source as prefix. Returns the
        tool as registered (its name may differ)."""
        with self._lock:
            name = safe_name(tool.name)
            if name in self._tools:
                prefix = tool.source.split(":", 1)[-1]
                name = safe_name(f"{prefix}_{tool.name}")
            base, counter = name, 2
            while name in self._tools:
                name, counter = safe_name(f"{base[:60]}_{counter}"), counter + 1
            registered = replace(tool, name=name)
            self._tools[name] = registered
            return registered

    def get(self, name: str) -> Tool | None:
        with self._lock:
            return self._tools.get(name)

    def tools(self, *, enabled_only: bool = False) -> list[Tool]:
        with self._lock:
            return [t for t in self._tools.values() if t.enabled or not enabled_only]

    def withdraw(self, source: str) -> list[str]:
        """Remove every tool from ``source``; return their names."""
        with self._lock:
            names = [n for n, t in self._tools.items() if t.source == source]
            for name in names:
                del self._tools[name]
            return names

    def configure(self, name: str, *, enabled: bool | None = None,
                  confirm: bool | None = None) -> None:
        """Apply a config override to a registered tool (no-op if it does not exist)."""
        with self._lock:
            tool = self._tools.get(name)
            if tool is None:
                return
            self._tools[name] = replace(
                tool, enabled=tool.enabled if enabled is None else enabled,
                confirm=tool.confirm if confirm is None else confirm)

    def session_fields(self, tool_choice: str = "auto") -> dict[str, Any]:
        """The ``session.update`` fields that declare the enabled tools."""
        schemas = [t.function_schema() for t in self.tools(enabled_only=True)]
        return {"tools": schemas, "tool_choice": tool_choice} if schemas else {"tools": []}
