"""Function calling: the tools omnichat offers the model, and running the calls it makes.

- ``calls``: collect streamed function calls per response; build the answers (pure).
- ``registry``: the tools, their source and safety flags; the ``session.update`` schema.
- ``runner``: run one response's calls concurrently with timeouts, validation, confirmation.
- ``builtin`` / ``calculator``: the harmless built-in tools.
- ``config``: the ``[tools]`` and ``[mcp.servers.NAME]`` tables.
- ``mcp_client``: MCP servers as tools (optional ``mcp`` extra).
- ``toolbox``: all of the above for one session; ``listing``: rows for ``omnichat tools``.
"""

from omnichat.tools.calls import CallCollector, FunctionCall, answer_events
from omnichat.tools.config import McpServerConfig, ToolsConfig, parse_tools_config
from omnichat.tools.listing import ToolRow, list_tools, render_tools
from omnichat.tools.registry import Tool, ToolRegistry
from omnichat.tools.runner import CallResult, ToolRun, ToolRunner, error_output
from omnichat.tools.toolbox import Toolbox

__all__ = [
    "CallCollector", "CallResult", "FunctionCall", "McpServerConfig", "Tool", "ToolRegistry",
    "ToolRow", "ToolRun", "ToolRunner", "Toolbox", "ToolsConfig", "answer_events",
    "error_output", "list_tools", "parse_tools_config", "render_tools",
]
