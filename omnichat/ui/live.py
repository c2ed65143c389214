"""The terminal view: finished turns go to the scrollback once, the rest is redrawn in place.

``LiveView`` owns a Rich ``Live(auto_refresh=False)`` — no refresh thread; the main thread
redraws at each poll. Each finished turn (and notice) is printed *above* the live region with
``console.print`` exactly once, in the order the engine finished them, so the terminal's
scrollback holds the whole conversation. The live region keeps only the replies in progress
and the status (``LiveRegion``), bounded by the terminal's height: a long answer can never
push the status line or its own newest words off screen.

A resize (SIGWINCH; the size is read at each redraw, so a signal in the middle of a line
changes nothing until the next one) makes the terminal re-wrap what is on screen, the live
region included, and part of it lands in the scrollback where no redraw can reach it. So on
a new size the view clears the screen and the scrollback and prints the conversation again
at the new width (the newest ``REPRINT_TURNS`` finished turns): each finished turn is there
exactly once. See docs/talk.md.
"""

from __future__ import annotations

import errno
from collections import deque

from rich.console import Console
from rich.live import Live

from omnichat.engine import updates as up
from omnichat.terminal import signals
from omnichat.ui.render import LiveRegion, TurnRows, notice_text
from omnichat.ui.state import Line, Note, ViewConfig, ViewState

REPRINT_TURNS = 500  # finished turns and notices printed again after a resize
CLEAR_ALL = "\x1b[H\x1b[2J\x1b[3J"  # home, erase the screen, then the scrollback


class LiveView:
    """The terminal view, redrawn by the main thread at most every poll."""

    def __init__(self, console: Console, config: ViewConfig | None = None):
        self.console = console
        self.state = ViewState(config=config or ViewConfig())
        self._live = Live(LiveRegion(self.state), console=console, auto_refresh=False,
                          transient=False, redirect_stdout=False, redirect_stderr=False,
                          vertical_overflow="crop")
        self._closed = False
        self._printed: deque[Line | Note] = deque(maxlen=REPRINT_TURNS)
        self._size = console.size
        self._live.start()

    def apply(self, update: up.Update) -> None:
        self.state.apply(update)

    def refresh(self, mic_dbfs: float | None = None) -> None:
        self.state.mic_dbfs = mic_dbfs
        try:
            self._repaint_if_resized()
            self._print_finished()
            self._live.refresh()
        except OSError as exc:
            raise write_failed(exc) from None

    def _print_finished(self) -> None:
        for item in self.state.take_printable():
            self._printed.append(item)
            self._print(item)

    def _print(self, item: Line | Note) -> None:
        self.console.print(TurnRows(item) if isinstance(item, Line) else notice_text(item))

    def _repaint_if_resized(self) -> None:
        """A new terminal size: clear everything, print the finished turns again at the new
        width, and let the next redraw start the live region afresh."""
        size = self.console.size
        if size == self._size:
            return
        self._size = size
        self.console.file.write(CLEAR_ALL)
        self._live._live_render._shape = None  # nothing of the old region is on screen now
        for item in self._printed:
            self._print(item)

    def close(self) -> None:
        """Print what is left (a reply never finished is shown whole, not cropped), then
        leave the last status frame on screen."""
        if self._closed:
            return
        self._closed = True
        try:
            self._print_finished()
            for line in self.state.pending:
                self.console.print(TurnRows(line))
            self.state.pending.clear()
            self._live.stop()
        except OSError as exc:
            raise write_failed(exc) from None


def write_failed(exc: OSError) -> BaseException:
    """EIO from the terminal means it hung up (often just before SIGHUP): end as for SIGHUP."""
    return signals.hang_up() if exc.errno == errno.EIO else exc


__all__ = ["LiveView", "write_failed"]
