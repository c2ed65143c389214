"""Rows for ``omnichat tools``: every tool with its source and whether it is on and confirmed.

Rendered as a Rich table on a terminal and as tab-separated lines otherwise, like
``omnichat voices``. Tool descriptions come from MCP servers, so they are cleaned first.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from omnichat.sanitize import clean_text
from omnichat.tools.registry import ToolRegistry

DESCRIPTION_CHARS = 60


@dataclass(frozen=True)
class ToolRow:
    name: str  # the function name the model calls
    source: str
    enabled: bool
    confirm: bool
    description: str = ""
    turn_on: str = ""  # how a user offers it: "--tools time", "--attach FILE", the config


def turn_on(name: str, source: str) -> str:
    """What offers the tool ``name``: built-ins by their ``--tools`` id, not their name."""
    from omnichat.tools.builtin import BUILTIN_IDS, builtin_tools

    if source == "builtin":
        for tool_id in BUILTIN_IDS:
            if any(tool.name == name for tool in builtin_tools([tool_id])):
                return f"--tools {tool_id}"
        return "--attach FILE"
    if source.startswith("mcp:"):
        return f"[mcp.servers.{source[4:]}]"
    return ""


def list_tools(registry: ToolRegistry, *, down: dict[str, str] | None = None) -> list[ToolRow]:
    """One row per registered tool, sorted by source then name; ``down`` maps an MCP
    server that did not start to its one-line reason (shown as a row without tools)."""
    rows = [ToolRow(t.name, t.source, t.enabled, t.needs_confirmation,
                    clean_text(t.description, keep_newlines=False), turn_on(t.name, t.source))
            for t in registry.tools()]
    for server, reason in (down or {}).items():
        rows.append(ToolRow("-", f"mcp:{server}", False, False,
                            clean_text(reason, keep_newlines=False)))
    return sorted(rows, key=lambda r: (r.source != "builtin", r.source, r.name))


def render_tools(rows: list[ToolRow], console: Console) -> None:
    """Print ``rows``: a table on a terminal, tab-separated lines otherwise."""
    if not console.is_terminal:
        console.file.write("\t".join(("function", "turned on by", "source", "enabled",
                                      "asks first", "description")) + "\n")
        for row in rows:
            console.file.write("\t".join((row.name, row.turn_on, row.source, _yes(row.enabled),
                                          _yes(row.confirm), row.description)) + "\n")
        return
    table = Table(title="Tools", show_lines=False,
                  caption="function: the name the model calls; turned on by: the flag or "
                  "config that offers it", caption_justify="left")
    for column in ("Function", "Turned on by", "Source", "Enabled", "Asks first",
                   "Description"):
        table.add_column(column)
    for row in rows:
        description = row.description
        if len(description) > DESCRIPTION_CHARS:
            description = description[:DESCRIPTION_CHARS - 1] + "…"
        table.add_row(Text(row.name), Text(row.turn_on), Text(row.source), _yes(row.enabled),
                      _yes(row.confirm), Text(description))
    console.print(table)


def tools_on_line(rows: list[ToolRow]) -> str | None:
    """``tools on: current_time (--tools time), ...`` for the start of a session."""
    shown = [f"{row.name} ({row.turn_on})" if row.turn_on.startswith("--tools") else row.name
             for row in rows if row.enabled and row.name != "-"]
    return f"tools on: {', '.join(shown)}" if shown else None


def _yes(value: bool) -> str:
    return "yes" if value else "no"
