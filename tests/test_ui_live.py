"""The live view on a small and a large terminal, frame by frame, through a conversation with
long answers and an early barge-in: the newest turn and the status line are on screen in
every frame, each user line is drawn once, and the scrollback after exit holds every turn in
order. The terminal is ``tests/ui_screen.Screen``, fed with exactly what Rich wrote."""

from __future__ import annotations

import re

import pytest
from rich.console import Console
from ui_screen import Screen

from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.ui import LiveView, ViewConfig

WORDS = ["tides", "follow", "the", "moon", "because", "its", "gravity", "pulls", "oceans",
         "into", "two", "bulges", "that", "earth", "turns", "under", "every", "day", "so",
         "each", "coast", "sees", "highs", "and", "lows"]


def long_answer(seed: int, words: int = 110) -> str:
    return " ".join(f"{WORDS[(seed + i * 7) % len(WORDS)]}{i}" for i in range(words))


def answered(item: str, asked: str, response_id: str, answer: str) -> list[up.Update]:
    """A whole turn as the engine reports it: preview, user line, streamed reply, done."""
    parts = answer.split(" ")
    return [up.StatusChanged(up.HEARING), up.UserPreview(item, asked[:5]),
            up.UserPreview(item, asked), up.StatusChanged(up.THINKING),
            up.TurnFinished(Turn("user", asked, item_id=item)),
            up.AssistantStarted(response_id), up.StatusChanged(up.SPEAKING),
            *(up.AssistantDelta(response_id, (" " if i else "") + w) for i, w in enumerate(parts)),
            up.LatencyMeasured(response_id, 640.0),
            up.TurnFinished(Turn("assistant", answer, response_id=response_id,
                                 usage={"input_tokens": 300, "output_tokens": 120})),
            up.StatusChanged(up.LISTENING)]


def early_barge_in() -> list[up.Update]:
    """The reply starts before the question's transcription and is cut ~170 ms in (two
    words); the transcription comes after the cut, and one more refresh of it after that."""
    asked = "What about the stars tonight"
    return [up.StatusChanged(up.HEARING), up.StatusChanged(up.THINKING),
            up.AssistantStarted("r3"), up.StatusChanged(up.SPEAKING),
            up.AssistantDelta("r3", "Stars are"), up.AssistantDelta("r3", " distant suns"),
            up.StatusChanged(up.INTERRUPTED), up.Interrupted("r3", 0, 1800.0),
            up.UserPreview("item_3", asked),
            up.TurnFinished(Turn("user", asked, item_id="item_3")),
            up.TurnFinished(Turn("assistant", "Stars are distant suns", response_id="r3",
                                 interrupted=True, heard="", unheard="Stars are distant suns")),
            up.UserPreview("item_3", asked),  # a late refresh of a line already drawn
            up.UserPreview("item_4", "Stop"), up.StatusChanged(up.THINKING),
            up.TurnFinished(Turn("user", "Stop please", item_id="item_4")),
            up.AssistantStarted("r4"), up.AssistantDelta("r4", "Sure."),
            up.TurnFinished(Turn("assistant", "Sure.", response_id="r4")),
            up.StatusChanged(up.LISTENING)]


def conversation() -> list[up.Update]:
    return [up.StatusChanged(up.LISTENING),
            *answered("item_1", "Tell me about the tides", "r1", long_answer(1)),
            *answered("item_2", "And the moon itself", "r2", long_answer(2)),
            *early_barge_in(),
            *answered("item_5", "One more long one", "r5", long_answer(5, 160))]


USER_LINES = ["Tell me about the tides", "And the moon itself", "What about the stars tonight",
              "Stop please", "One more long one"]


class Newest:
    """The text of the newest turn, followed from the updates alone (not from the view): a
    reply still streaming is newer than a user line finished while it streams."""

    def __init__(self) -> None:
        self.streaming: dict[str, str] = {}
        self.finished = ""

    def apply(self, update: up.Update) -> None:
        if isinstance(update, up.AssistantDelta):
            self.streaming[update.response_id] = \
                self.streaming.get(update.response_id, "") + update.text
        elif isinstance(update, up.TurnFinished):
            self.streaming.pop(update.turn.response_id or "", None)
            self.finished = update.turn.text

    @property
    def last_word(self) -> str:
        texts = [text for text in self.streaming.values() if text] or [self.finished]
        return texts[-1].split()[-1] if texts[-1].split() else ""


@pytest.mark.parametrize("width,height", [(60, 14), (100, 30)])
def test_every_frame_shows_the_newest_turn_and_the_status_and_the_scrollback_keeps_all(
        width, height):
    screen = Screen(width, height)
    console = Console(file=screen, width=width, height=height, force_terminal=True,
                      color_system=None)
    view = LiveView(console, ViewConfig(model="qwen3-omni-flash-realtime", voice="Tina",
                                        local=True))
    newest = Newest()
    for number, update in enumerate(conversation()):
        view.apply(update)
        newest.apply(update)
        view.refresh(-30.0)
        shown = screen.lines()
        where = f"frame {number} after {update}:\n" + "\n".join(shown)
        assert any(row.startswith("● ") for row in shown), where
        assert newest.last_word in " ".join(shown), where
        for asked in USER_LINES:
            assert sum(row.count(f"you  {asked}") for row in shown) <= 1, where
    view.apply(up.StatusChanged(up.CLOSED))
    view.refresh(None)
    view.close()
    history = screen.history()
    assert history[-1].startswith("● closed")
    flat = re.sub(r"\s+", " ", " ".join(history))
    for asked in USER_LINES:
        assert flat.count(f"you {asked}") == 1, asked
    in_order = [f"you {USER_LINES[0]}", long_answer(1)[:40], f"you {USER_LINES[1]}",
                long_answer(2)[:40], f"you {USER_LINES[2]}", "✂ Stars are distant suns",
                f"you {USER_LINES[3]}", "qwen Sure.", f"you {USER_LINES[4]}",
                long_answer(5, 160)[-40:]]
    positions = [flat.find(piece) for piece in in_order]
    assert -1 not in positions and positions == sorted(positions), positions


def _live(width: int, height: int) -> tuple[Screen, Console, LiveView]:
    screen = Screen(width, height)
    console = Console(file=screen, width=width, height=height, force_terminal=True,
                      color_system=None)
    view = LiveView(console, ViewConfig(model="qwen3-omni-flash-realtime", voice="Tina",
                                        local=True))
    return screen, console, view


def _resize(screen: Screen, console: Console, width: int, height: int) -> None:
    screen.resize(width, height)
    console.size = (width, height)


def test_a_resize_while_a_reply_streams_leaves_each_turn_in_the_scrollback_once():
    """100x30 -> 60x14 -> 80x20 mid-reply, then q: every turn is in the history exactly
    once, wrapped at the width in effect when it was printed last."""
    screen, console, view = _live(100, 30)
    answer = long_answer(3, 160)
    updates = answered("item_1", "Tell me about the tides", "r1", long_answer(1, 30))
    updates += answered("item_2", "And the moon itself", "r2", answer)
    middle = len(updates) - 60
    for number, update in enumerate(updates):
        view.apply(update)
        view.refresh(-30.0)
        if number == middle:
            _resize(screen, console, 60, 14)
        elif number == middle + 20:
            _resize(screen, console, 80, 20)
    view.close()
    history = screen.history()
    flat = re.sub(r"\s+", " ", " ".join(history))
    for piece in ("you Tell me about the tides", "you And the moon itself",
                  answer.split()[0] + " ", answer.split()[-1] + " ",
                  long_answer(1, 30).split()[0] + " "):
        assert flat.count(piece) == 1, (piece, "\n".join(history))
    assert max(len(row) for row in history) <= 80


def test_a_long_answer_at_60x14_keeps_its_label_on_top_a_hanging_indent_and_whole_tags():
    screen, console, view = _live(60, 14)
    answer = long_answer(4, 120)
    for update in answered("item_1", "[18.8 s of speech]", "r1", answer)[:-2]:
        view.apply(update)
        view.refresh(-30.0)
    view.apply(up.LatencyMeasured("r1", 900.0))
    view.refresh(-30.0)
    shown = [row for row in screen.lines() if row]
    top = shown.index("qwen …")  # the answer's first visible row names its speaker
    assert top <= 1 and all(not row.startswith("you") for row in shown[top:]), shown
    body = shown[top + 1:shown.index(next(row for row in shown if row.startswith("──")))]
    assert body and all(row.startswith("     ") and row[5] != " " for row in body), shown
    assert body[-1].endswith("(900 ms)"), shown
    view.apply(up.TurnFinished(Turn("assistant", answer, response_id="r1",
                                    latency_ms=900.0)))
    view.close()
    history = screen.history()
    start = next(i for i, row in enumerate(history) if row.startswith("qwen "))
    rows = history[start:start + 20]
    assert all(row.startswith("     ") for row in rows[1:rows.index(
        next(row for row in rows if row.endswith("(900 ms)"))) + 1]), rows
    assert not any(row.rstrip().endswith("(900") for row in history), history
