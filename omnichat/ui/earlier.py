"""The last few turns of a resumed conversation, shown dimmed before the new ones.

On a terminal they go to the scrollback above the live region (dim, as ``line_text`` draws a
turn); otherwise each is a plain ``[HH:MM:SS] earlier you: ...`` line with the turn's own
time. Server text is cleaned as for any turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text

from omnichat.engine.turns import Turn
from omnichat.ui.live import LiveView
from omnichat.ui.plain import PlainView, turn_line
from omnichat.ui.render import line_text
from omnichat.ui.state import Line, clean


def show_earlier(view: Any, turns: Sequence[Turn]) -> None:
    if not turns:
        return
    if isinstance(view, LiveView):
        view.console.print(Text("earlier in this conversation:", style="dim italic"))
        for turn in turns:
            text = line_text(_line(turn))
            text.stylize("dim")
            view.console.print(text)
    elif isinstance(view, PlainView):
        for turn in turns:
            stamp = turn.started_at.astimezone().strftime("%H:%M:%S")
            view.stream.write(f"[{stamp}] earlier {turn_line(turn)}\n")
        view.stream.flush()


def _line(turn: Turn) -> Line:
    if turn.role == "assistant" and turn.interrupted:
        heard, unheard = clean(turn.heard or ""), clean(turn.unheard or "")
        return Line("assistant", f"{heard} {unheard}".strip(), cut=len(heard))
    return Line(turn.role, clean(turn.text))
