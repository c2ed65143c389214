"""Server-side MCP in the emulator (qwen3.8, docs/qwen38.md): when to call, and the call.

The rule: with ``type: "mcp"`` tools declared, a user turn (typed text or its transcript) or
a reply-script line of the form ``mcp SERVER.TOOL ARGS`` calls tool TOOL of the server whose
``server_label`` is SERVER, with ARGS (JSON; ``{}`` when empty). With ``require_approval =
"always"`` the response is an ``mcp_approval_request`` item and the call waits for the
client's ``mcp_approval_response``; with ``"never"`` it is made at once.

``call_tool`` speaks MCP's streamable HTTP (JSON-RPC ``initialize``, ``initialized``,
``tools/call``) to a server on loopback only, with one deadline per request and a size cap
on every answer; it runs on the thread ``omnichat-emulator-mcp-N`` (never with the
connection's lock held) and returns ``(output, error)``.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from omnichat.transport.target import is_loopback

MCP_LINE = re.compile(r"^\s*mcp\s+([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_.:-]{1,64})\s*(.*)$",
                      re.DOTALL)
CALL_TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 256 * 1024
OUTPUT_CHARS = 2000  # the output kept in the mcp_call item
PROTOCOL_VERSION = "2025-06-18"
# No proxy from the environment: the server is on loopback and the token must not travel.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class PlannedMcp:
    """A call of tool ``name`` on the declared server ``server`` (its tools entry)."""

    server_label: str
    name: str
    arguments: str
    server: Mapping[str, Any] = field(repr=False)  # holds the authorization: never shown

    @property
    def needs_approval(self) -> bool:
        return bool(self.server.get("require_approval", "always") != "never")


def declared_servers(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The session's MCP tools entries by ``server_label``."""
    return {str(tool.get("server_label")): tool for tool in config.get("tools") or []
            if isinstance(tool, dict) and tool.get("type") == "mcp"}


def plan_mcp(config: Mapping[str, Any], script_line: str | None,
             user_text: str) -> PlannedMcp | None:
    """The MCP call this response makes, or None."""
    servers = declared_servers(config)
    if not servers:
        return None
    for text in (script_line, user_text):
        match = MCP_LINE.match(text or "")
        if match is not None and match.group(1) in servers:
            server = servers[match.group(1)]
            allowed = server.get("allowed_tools")
            if isinstance(allowed, list) and match.group(2) not in allowed:
                return None
            return PlannedMcp(match.group(1), match.group(2),
                              match.group(3).strip() or "{}", server)
    return None


def call_tool(planned: PlannedMcp, timeout_s: float = CALL_TIMEOUT_S) -> tuple[str, str]:
    """Call the tool; ``(output, "")`` or ``("", error)``."""
    url = str(planned.server.get("server_url") or "")
    host = urlsplit(url).hostname or ""
    if not is_loopback(host):
        return "", f"the emulator calls only MCP servers on loopback, not {host or url!r}"
    try:
        arguments = json.loads(planned.arguments)
    except ValueError:
        return "", "the arguments are not valid JSON"
    headers = {str(k): str(v) for k, v in (planned.server.get("headers") or {}).items()}
    if planned.server.get("authorization"):
        headers["Authorization"] = f"Bearer {planned.server['authorization']}"
    try:
        session = _post(url, headers, _request(1, "initialize", {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "omnichat-emulator", "version": "1"}}), timeout_s)[1]
        if session:
            headers["Mcp-Session-Id"] = session
        _post(url, headers, {"jsonrpc": "2.0", "method": "notifications/initialized"},
              timeout_s)
        answer = _post(url, headers, _request(2, "tools/call", {
            "name": planned.name, "arguments": arguments}), timeout_s)[0]
    except (OSError, ValueError) as exc:
        return "", f"the MCP server did not answer: {exc}"
    return _result(answer)


def _request(number: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": number, "method": method, "params": params}


def _post(url: str, headers: Mapping[str, str], body: dict[str, Any],
          timeout_s: float) -> tuple[dict[str, Any] | None, str]:
    """One JSON-RPC message; the answer (JSON or the last SSE data line) and the session id."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"), method="POST",
        headers={**headers, "Content-Type": "application/json",
                 "Accept": "application/json, text/event-stream"})
    with _OPENER.open(request, timeout=timeout_s) as response:
        raw = response.read(MAX_ANSWER_BYTES + 1)
        session = response.headers.get("Mcp-Session-Id") or ""
        kind = response.headers.get("Content-Type") or ""
    if len(raw) > MAX_ANSWER_BYTES:
        raise ValueError(f"its answer is larger than {MAX_ANSWER_BYTES} bytes")
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        return None, session
    if "text/event-stream" in kind:
        data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        text = data[-1] if data else "{}"
    value = json.loads(text)
    return (value if isinstance(value, dict) else None), session


def _result(answer: dict[str, Any] | None) -> tuple[str, str]:
    if not isinstance(answer, dict):
        return "", "the MCP server sent no answer"
    if isinstance(answer.get("error"), dict):
        return "", str(answer["error"].get("message") or "error")[:OUTPUT_CHARS]
    value = answer.get("result")
    result: dict[str, Any] = value if isinstance(value, dict) else {}
    texts = [str(part.get("text")) for part in result.get("content") or []
             if isinstance(part, dict) and part.get("type") == "text"]
    text = "\n".join(texts)[:OUTPUT_CHARS]
    return ("", text or "the tool failed") if result.get("isError") else (text, "")
