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

Redrawing the region costs a few milliseconds of Rich layout and terminal output, so it is
redrawn only when something on it changed: at once for a status change, a key or a finished
turn; at most every ``STREAM_REDRAW_S`` while reply text streams in (``paced=True``, what
``make_view`` asks for); at most every ``METER_REDRAW_S`` when only the level meter moved by a
cell; never when nothing moved (figures: docs/benchmarks-latency.md, "The live view's cost").
"""

from __future__ import annotations

import errno
import math
import time
from collections import deque
from collections.abc import Callable

from rich.console import Console
from rich.live import Live

from omnichat.engine import updates as up
from omnichat.terminal import signals
from omnichat.ui.render import LiveRegion, TurnRows, meter, notice_text
from omnichat.ui.state import Line, Note, ViewConfig, ViewState

REPRINT_TURNS = 500  # finished turns and notices printed again after a resize
CLEAR_ALL = "\x1b[H\x1b[2J\x1b[3J"  # home, erase the screen, then the scrollback

STREAM_REDRAW_S = 0.08  # streamed reply text: about 12 frames a second
METER_REDRAW_S = 0.25  # the level meter alone: it moves with every breath
# Updates that show at once: everything but streamed text and the user's live preview.
_PACED_UPDATES = (up.AssistantDelta, up.UserPreview)


class LiveView:
    """The terminal view, redrawn by the main thread when (and as often as) something moved."""

    def __init__(self, console: Console, config: ViewConfig | None = None, *,
                 paced: bool = False, clock: Callable[[], float] = time.monotonic):
        self.console = console
        self.state = ViewState(config=config or ViewConfig())
        self._live = Live(LiveRegion(self.state), console=console, auto_refresh=False,
                          transient=False, redirect_stdout=False, redirect_stderr=False,
                          vertical_overflow="crop")
        self._closed = False
        self._printed: deque[Line | Note] = deque(maxlen=REPRINT_TURNS)
        self._size = console.size
        self._stream_s = STREAM_REDRAW_S if paced else 0.0
        self._meter_s = METER_REDRAW_S if paced else 0.0
        self._clock = clock
        self._changes = 0  # updates applied since the last redraw
        self._urgent = False  # one of them must show at once
        self._drawn: tuple[object, ...] | None = None  # (meter, terminal size) last drawn
        self._drawn_at = -math.inf
        self.redraws = 0
        self._live.start()

    def apply(self, update: up.Update) -> None:
        self.state.apply(update)
        self._changes += 1
        if not isinstance(update, _PACED_UPDATES):
            self._urgent = True

    def refresh(self, mic_dbfs: float | None = None) -> None:
        """Print finished turns; redraw the region if something on it moved (see above)."""
        self.state.mic_dbfs = mic_dbfs
        try:
            resized = self._repaint_if_resized()
            printed = self._print_finished()  # printing redraws the region below it
            shown = (meter(mic_dbfs), self.console.size)
            now = self._clock()
            if printed or resized or self._due(shown, now - self._drawn_at):
                if not printed:
                    self._live.refresh()
                self._drawn, self._drawn_at, self._changes, self._urgent = shown, now, 0, False
                self.redraws += 1
        except OSError as exc:
            raise write_failed(exc) from None

    def _due(self, shown: tuple[object, ...], since_s: float) -> bool:
        if self._urgent or self._drawn is None or shown[1] != self._drawn[1]:
            return True
        if self._changes:
            return since_s >= self._stream_s
        return shown != self._drawn and since_s >= self._meter_s

    def _print_finished(self) -> bool:
        items = self.state.take_printable()
        for item in items:
            self._printed.append(item)
            self._print(item)
        return bool(items)

    def _print(self, item: Line | Note) -> None:
        self.console.print(TurnRows(item) if isinstance(item, Line) else notice_text(item))

    def _repaint_if_resized(self) -> bool:
        """A new terminal size: clear everything, print the finished turns again at the new
        width, and let the next redraw start the live region afresh."""
        size = self.console.size
        if size == self._size:
            return False
        self._size = size
        self.console.file.write(CLEAR_ALL)
        self._live._live_render._shape = None  # nothing of the old region is on screen now
        for item in self._printed:
            self._print(item)
        return True

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
