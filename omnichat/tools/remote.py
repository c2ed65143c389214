"""``[mcp.remote.NAME]``: MCP servers the service calls itself (qwen3.8, docs/qwen38.md).

Unlike ``[mcp.servers.NAME]``, omnichat never talks to these servers: it sends one
``type: "mcp"`` entry per table in the session's ``tools`` and the service calls the server.
With ``require_approval = "always"`` the service asks first (an ``mcp_approval_request``
item) and omnichat asks the user the same y/n question as for a local tool. Example::

    [mcp.remote.docs]
    url = "https://mcp.example.com/mcp"
    authorization_env = "DOCS_MCP_TOKEN"   # the name of a variable, never the token
    allowed_tools = ["search"]
    require_approval = "always"

The authorization value is read from the environment when the session is built and goes
only into that ``session.update``; it is never shown, logged or written to a transcript.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from omnichat.catalog import MODELS
from omnichat.errors import ConfigError
from omnichat.protocol.session_fields import APPROVAL, mcp_tool
from omnichat.sanitize import clean_text
from omnichat.tools.config import SERVER_NAME
from omnichat.tools.listing import ToolRow

_KEYS = ("url", "authorization_env", "allowed_tools", "require_approval")
SOURCE_PREFIX = "mcp-remote:"  # the source column of `omnichat tools`


@dataclass(frozen=True)
class RemoteServer:
    """One server the service calls: where it is and which variable holds its token."""

    name: str
    url: str
    authorization_env: str | None = None
    allowed_tools: tuple[str, ...] | None = None
    require_approval: str = "always"

    @property
    def source(self) -> str:
        return SOURCE_PREFIX + self.name

    def tool(self, environ: Mapping[str, str], origin: str) -> dict[str, Any]:
        """The session's ``tools`` entry; the token is read from the environment now."""
        token = None
        if self.authorization_env:
            token = environ.get(self.authorization_env)
            if not token:
                raise ConfigError(f"{origin}, [mcp.remote.{self.name}]: the environment "
                                  f"variable {self.authorization_env} (authorization_env) is "
                                  f"not set; export it, or remove authorization_env")
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
                raise ConfigError(f"environment variable {self.authorization_env}: contains "
                                  f"control characters; copy the token again")
        return mcp_tool(self.name, self.url, require_approval=self.require_approval,
                        authorization=token, allowed_tools=self.allowed_tools)


def parse_remote(tables: Mapping[str, Any], origin: str) -> list[RemoteServer]:
    """Every ``[mcp.remote.NAME]`` table, checked; one line naming the key on any error."""
    return [_server(name, table, origin) for name, table in tables.items()]


def _server(name: str, table: Mapping[str, Any], origin: str) -> RemoteServer:
    where = f"{origin}, [mcp.remote.{name}]"
    if not SERVER_NAME.match(name):
        _fail(where, "the name must be 1-32 letters, digits, _ or -; rename the table")
    for key in table:
        if key in ("authorization", "headers"):
            _fail(where, f"'{key}' would put a secret in the file; name the environment "
                         f"variable that holds it with authorization_env = \"VAR\"")
        if key not in _KEYS:
            _fail(where, f"unknown key '{key}'; use {', '.join(_KEYS)}")
    url = table.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        _fail(where, "url must be the server's http(s):// address; add url = \"https://...\"")
    env = table.get("authorization_env")
    if env is not None and (not isinstance(env, str) or not env or env[0].isdigit()
                            or not all(c.isalnum() or c == "_" for c in env)):
        _fail(where, "authorization_env must name an environment variable, such as "
                     "\"DOCS_MCP_TOKEN\"")
    allowed = table.get("allowed_tools")
    if allowed is not None and (not isinstance(allowed, list)
                                or not all(isinstance(t, str) and t for t in allowed)):
        _fail(where, "allowed_tools must be a list of tool names, such as [\"search\"]")
    approval = table.get("require_approval", "always")
    if approval not in APPROVAL:
        _fail(where, f"require_approval must be \"always\" or \"never\", got {approval!r}")
    return RemoteServer(name, url, env, tuple(allowed) if allowed is not None else None,
                        approval)


def _fail(where: str, text: str) -> NoReturn:
    raise ConfigError(f"{where}: {text}")


def remote_tools(tables: Mapping[str, Any], model: str, origin: str,
                 environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The ``type: "mcp"`` entries for a conversation with ``model``; a model without
    server-side MCP refuses any table, in one line."""
    servers = parse_remote(tables, origin)
    if not servers:
        return []
    known = MODELS.get(model)
    if known is None or not known.supports_remote_mcp:
        raise ConfigError(f"{origin}, [mcp.remote.{servers[0].name}]: server-side MCP needs "
                          f"qwen3.8-omni-flash-realtime, but the model is {model}; choose "
                          f"that model (--model) or remove the [mcp.remote] tables")
    environ = os.environ if environ is None else environ
    return [server.tool(environ, origin) for server in servers]


def remote_rows(tables: Mapping[str, Any], model: str, origin: str) -> list[ToolRow]:
    """``omnichat tools`` rows: one per server, on only with a model that supports it."""
    known = MODELS.get(model)
    supported = known is not None and known.supports_remote_mcp
    rows = []
    for server in parse_remote(tables, origin):
        names = ", ".join(server.allowed_tools) if server.allowed_tools is not None else "*"
        note = server.url if supported else f"needs qwen3.8-omni-flash-realtime, not {model}"
        rows.append(ToolRow(names, server.source, supported,
                            server.require_approval == "always", clean_text(note)))
    return rows
