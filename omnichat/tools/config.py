"""The ``[tools]`` and ``[mcp.servers.NAME]`` config tables, parsed from plain dicts.

The config loader hands the raw tables over; this module checks every key and raises one
``ConfigError`` line naming the file, the table, the key and the fix. Example::

    [tools]
    builtin = ["time", "calculator"]
    timeout_s = 10
    confirm = ["write_file"]

    [mcp.servers.files]
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/notes"]

    [mcp.servers.search]
    url = "https://example.com/mcp"
    headers = { Authorization = "Bearer ..." }
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from omnichat.errors import ConfigError
from omnichat.tools.builtin import BUILTIN_IDS
from omnichat.tools.runner import DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_TIMEOUT_S

SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
TOOL_CHOICES = ("auto", "none")
DEFAULT_STARTUP_TIMEOUT_S = 15.0
MIN_OUTPUT_BYTES = 256

_TOOLS_KEYS = {"builtin", "timeout_s", "max_output_bytes", "tool_choice", "confirm",
               "disabled", "timezone"}
_SERVER_KEYS = {"command", "args", "env", "cwd", "url", "headers", "enabled", "confirm",
                "timeout_s", "startup_timeout_s", "tools"}


@dataclass(frozen=True)
class McpServerConfig:
    """One MCP server: started with ``command`` (stdio) or reached at ``url`` (HTTP)."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold tokens
    enabled: bool = True
    confirm: bool = False  # ask before every call of this server's tools
    timeout_s: float = DEFAULT_TIMEOUT_S
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S
    tools: tuple[str, ...] | None = None  # only these of its tools (None: all)

    @property
    def source(self) -> str:
        return f"mcp:{self.name}"


@dataclass(frozen=True)
class ToolsConfig:
    builtin: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    tool_choice: str = "auto"
    confirm: tuple[str, ...] = ()  # tool names that always ask first
    disabled: tuple[str, ...] = ()  # tool names never offered
    timezone: str | None = None
    servers: tuple[McpServerConfig, ...] = ()


def parse_tools_config(tools: Mapping[str, Any] | None = None,
                       mcp: Mapping[str, Any] | None = None, *,
                       origin: str = "config") -> ToolsConfig:
    """``ToolsConfig`` from the ``[tools]`` table and the ``[mcp]`` table (whose ``servers``
    holds one table per server). ``origin`` names the file in error messages."""
    table = _Table(origin, "[tools]", tools or {}, _TOOLS_KEYS)
    builtin = table.strings("builtin")
    for name in builtin:
        if name not in BUILTIN_IDS:
            table.fail("builtin", f"unknown built-in '{name}'; choose from "
                       f"{', '.join(BUILTIN_IDS)}")
    timeout_s = table.number("timeout_s", DEFAULT_TIMEOUT_S)
    choice = table.text("tool_choice") or "auto"
    if choice not in TOOL_CHOICES:
        table.fail("tool_choice", f"must be one of {', '.join(TOOL_CHOICES)}")
    return ToolsConfig(
        builtin=builtin, timeout_s=timeout_s,
        max_output_bytes=int(table.number("max_output_bytes", DEFAULT_MAX_OUTPUT_BYTES,
                                          minimum=MIN_OUTPUT_BYTES, integer=True)),
        tool_choice=choice, confirm=table.strings("confirm"),
        disabled=table.strings("disabled"), timezone=table.text("timezone"),
        servers=_servers(mcp or {}, origin, timeout_s))


def _servers(mcp: Mapping[str, Any], origin: str, timeout_s: float) -> tuple[McpServerConfig, ...]:
    outer = _Table(origin, "[mcp]", mcp, {"servers"})
    servers = mcp.get("servers", {})
    if not isinstance(servers, Mapping):
        outer.fail("servers", "must be a table of [mcp.servers.NAME] tables")
    return tuple(_server(name, value, origin, timeout_s) for name, value in servers.items())


def _server(name: str, value: Any, origin: str, timeout_s: float) -> McpServerConfig:
    where = f"[mcp.servers.{name}]"
    if not SERVER_NAME.match(name):
        raise ConfigError(f"{origin}: {where}: the server name may use letters, digits, '_' "
                          f"and '-' (at most 32); rename the table")
    if not isinstance(value, Mapping):
        raise ConfigError(f"{origin}: {where} must be a table with 'command' or 'url'")
    table = _Table(origin, where, value, _SERVER_KEYS)
    command, url = table.text("command"), table.text("url")
    if bool(command) == bool(url):
        table.fail("command", "give exactly one of 'command' (a stdio server) or 'url' "
                   "(a streamable HTTP server)")
    if url and not re.match(r"^https?://", url):
        table.fail("url", "must start with http:// or https://")
    allowed = value.get("tools")
    return McpServerConfig(
        name=name, command=command, args=table.strings("args"), env=table.string_map("env"),
        cwd=table.text("cwd"), url=url, headers=table.string_map("headers"),
        enabled=table.flag("enabled", True), confirm=table.flag("confirm", False),
        timeout_s=table.number("timeout_s", timeout_s),
        startup_timeout_s=table.number("startup_timeout_s", DEFAULT_STARTUP_TIMEOUT_S),
        tools=None if allowed is None else table.strings("tools"))


class _Table:
    """Typed reads from one raw table; every failure names origin, table and key."""

    def __init__(self, origin: str, where: str, data: Mapping[str, Any], keys: set[str]):
        self.origin, self.where, self.data = origin, where, data
        if not isinstance(data, Mapping):
            raise ConfigError(f"{origin}: {where} must be a table")
        for key in data:
            if key not in keys:
                self.fail(key, f"unknown key; known keys: {', '.join(sorted(keys))}")

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(f"{self.origin}: {self.where} '{key}': {problem}")

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            self.fail(key, 'must be a non-empty string, e.g. key = "value"')
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, "must be true or false")
        return bool(value)

    def number(self, key: str, default: float, *, minimum: float = 0.0,
               integer: bool = False) -> float:
        """A number > ``minimum`` (a whole number >= ``minimum`` when ``integer``)."""
        value = self.data.get(key, default)
        kinds = (int,) if integer else (int, float)
        valid = not isinstance(value, bool) and isinstance(value, kinds)
        if not valid or (value < minimum if integer else value <= minimum):
            wanted = (f"a whole number of at least {minimum:g}" if integer
                      else f"a number greater than {minimum:g}")
            self.fail(key, f"must be {wanted}")
        return float(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, 'must be a list of strings, e.g. ["a", "b"]')
        return tuple(value)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.data.get(key, {})
        if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            self.fail(key, 'must be a table of strings, e.g. { NAME = "value" }')
        return dict(value)
