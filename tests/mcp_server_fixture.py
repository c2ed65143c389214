"""A tiny MCP server over stdio for the tool tests, written with the official ``mcp`` SDK.

Run as ``python tests/mcp_server_fixture.py``. Its tools: ``echo`` and ``add`` (read-only),
``erase`` (destructive, so omnichat asks first), ``explode`` (the tool fails), ``pid`` (the
process id, so a test can kill the server), ``wait_forever`` (never answers). The environment
variable ``MCP_FIXTURE_PREFIX`` is put before every tool name (two servers, distinct names).
With ``--http`` it serves streamable HTTP on 127.0.0.1 and prints its port first.
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True)
server = MCPServer("omnichat-test", log_level="CRITICAL")
PREFIX = os.environ.get("MCP_FIXTURE_PREFIX", "")


@server.tool(name=PREFIX + "echo", description="Repeat the text back.", annotations=READ_ONLY)
def echo(text: str) -> str:
    return f"echo: {text}"


@server.tool(name=PREFIX + "add", description="Add two integers.", annotations=READ_ONLY)
def add(a: int, b: int) -> str:
    return str(a + b)


@server.tool(name=PREFIX + "erase", description="Erase a note.",
             annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
def erase(note: str) -> str:
    return f"erased {note}"


@server.tool(name=PREFIX + "explode", description="Always fails.", annotations=READ_ONLY)
def explode() -> str:
    raise RuntimeError("boom from the server")


@server.tool(name=PREFIX + "pid", description="The server's process id.", annotations=READ_ONLY)
def pid() -> str:
    return str(os.getpid())


@server.tool(name=PREFIX + "wait_forever", description="Never answers.", annotations=READ_ONLY)
async def wait_forever() -> str:
    await anyio.sleep(3600)  # async, so a cancelled call or a closed connection ends it
    return "late"


def serve_http() -> None:
    """Streamable HTTP on a socket bound before anything else: its port is the first line on
    stdout, and connections queue on it until the server accepts them (no start-up race)."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(server.streamable_http_app(), log_level="critical")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    if sys.argv[1:] == ["--http"]:
        serve_http()
    else:
        server.run()
