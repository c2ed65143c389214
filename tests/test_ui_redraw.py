"""The live view redraws only what moved, at a pace tied to what moves (no timing: a fake clock).

A frame is counted by what Rich wrote to the terminal (``tests/ui_screen.Screen``), so a
refresh that is skipped must write nothing at all, and a paced change must still reach the
screen at the next refresh once its interval has passed.
"""

from __future__ import annotations

from rich.console import Console
from ui_screen import Screen

from omnichat.engine import updates as up
from omnichat.ui import LiveView, ViewConfig
from omnichat.ui.live import METER_REDRAW_S, STREAM_REDRAW_S


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingScreen(Screen):
    """A screen that counts the writes Rich made to it."""

    writes = 0

    def write(self, data: str) -> int:
        if data:
            self.writes += 1
        return super().write(data)


def paced_view() -> tuple[LiveView, CountingScreen, FakeClock]:
    screen, clock = CountingScreen(100, 30), FakeClock()
    console = Console(file=screen, width=100, height=30, force_terminal=True,
                      color_system=None)
    view = LiveView(console, ViewConfig(model="qwen3-omni-flash-realtime", voice="Tina",
                                        local=True), paced=True, clock=clock)
    view.apply(up.StatusChanged(up.LISTENING))
    view.refresh(-120.0)
    return view, screen, clock


def test_an_idle_view_writes_nothing_while_nothing_moves():
    view, screen, clock = paced_view()
    before, redraws = screen.writes, view.redraws
    for _ in range(100):  # ten seconds of polls at 100 ms
        clock.now += 0.1
        view.refresh(-120.0)
    assert (screen.writes, view.redraws) == (before, redraws)
    view.close()


def test_streamed_text_is_drawn_at_the_stream_pace_and_the_newest_word_arrives():
    view, screen, clock = paced_view()
    view.apply(up.AssistantStarted("r1"))
    view.apply(up.StatusChanged(up.SPEAKING))
    view.refresh(-120.0)
    start = view.redraws
    for i in range(200):  # 2 s of deltas every 10 ms, a refresh after each
        clock.now += 0.01
        view.apply(up.AssistantDelta("r1", f" word{i}"))
        view.refresh(-120.0)
    drawn = view.redraws - start
    assert 2.0 / STREAM_REDRAW_S - 2 <= drawn <= 2.0 / STREAM_REDRAW_S + 1
    clock.now += STREAM_REDRAW_S
    view.refresh(-120.0)  # the first poll after the interval shows what was held back
    assert "word199" in " ".join(screen.lines())
    view.close()


def test_a_status_change_shows_at_once_and_the_meter_alone_is_paced():
    view, screen, clock = paced_view()
    clock.now += 0.001
    view.apply(up.StatusChanged(up.HEARING))
    view.refresh(-120.0)
    assert any(row.startswith("● hearing") for row in screen.lines())
    drawn = view.redraws
    levels = [-50.0, -20.0] * 50  # a meter swinging every 10 ms for 1 s
    for level in levels:
        clock.now += 0.01
        view.refresh(level)
    assert view.redraws - drawn <= 1.0 / METER_REDRAW_S + 1
    view.close()
