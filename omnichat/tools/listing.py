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
    name: str
    source: str
    enabled: bool
    confirm: bool
    description: str = ""


def list_tools(registry: ToolRegistry, *, down: dict[str, str] | None = None) -> list[ToolRow]:
    """One row per registered tool, sorted by source then name; ``down`` maps an MCP
    server that did not start to its one-line reason (shown as a row without tools)."""
    rows = [ToolRow(t.name, t.source, t.enabled, t.needs_confirmation,
                    clean_text(t.description, keep_newlines=False))
            for t in registry.tools()]
    for server, reason in (down or {}).items():
        rows.append(ToolRow("-", f"mcp:{server}", False, False,
                            clean_text(reason, keep_newlines=False)))
    return sorted(rows, key=lambda r: (r.source != "builtin", r.source, r.name))


def render_tools(rows: list[ToolRow], console: Console) -> None:
    """Print ``rows``: a table on a terminal, tab-separated lines otherwise."""
    if not console.is_terminal:
        for row in rows:
            console.file.write("\t".join((row.name, row.source, _yes(row.enabled),
                                          _yes(row.confirm), row.description)) + "\n")
        return
    table = Table(title="Tools", show_lines=False)
    for column in ("Tool", "Source", "Enabled", "Asks first", "Description"):
        table.add_column(column)
    for row in rows:
        description = row.description
        if len(description) > DESCRIPTION_CHARS:
            description = description[:DESCRIPTION_CHARS - 1] + "…"
        table.add_row(Text(row.name), Text(row.source), _yes(row.enabled), _yes(row.confirm),
                      Text(description))
    console.print(table)


def _yes(value: bool) -> str:
    return "yes" if value else "no"
