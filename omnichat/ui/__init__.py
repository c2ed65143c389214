"""What the user sees: a Rich live view on a terminal, plain timestamped lines otherwise.

Both views consume the engine's updates on the main thread only (the only thread that
touches the console). ``state`` is the pure model, ``render`` the Rich renderables
(testable into a ``StringIO`` console), ``live`` the terminal view (finished turns to the
scrollback, the turn in progress and the status redrawn in place), ``plain`` the line view.
A terminal that hangs up (EIO) ends the session as SIGHUP does.
"""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console

from omnichat.ui.live import LiveView
from omnichat.ui.plain import PlainView
from omnichat.ui.render import LiveRegion, line_text, meter, status_text
from omnichat.ui.state import Line, ViewConfig, ViewState


def make_view(console: Console | None = None, stream: IO[str] | None = None,
              config: ViewConfig | None = None) -> LiveView | PlainView:
    """LiveView when stdout is a terminal, PlainView otherwise."""
    stream = stream if stream is not None else sys.stdout
    if console is None and stream.isatty():
        console = Console(file=stream)
    if console is not None and console.is_terminal:
        return LiveView(console, config, paced=True)
    return PlainView(stream, config)


__all__ = ["Line", "LiveRegion", "LiveView", "PlainView", "ViewConfig", "ViewState",
           "line_text", "make_view", "meter", "status_text"]
