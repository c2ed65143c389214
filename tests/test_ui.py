"""The live view rendered into a StringIO console, and the plain view's lines."""

from __future__ import annotations

import io
import re
import signal

import pytest
from rich.console import Console

from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.ui import (
    Line,
    LiveRegion,
    LiveView,
    PlainView,
    ViewState,
    line_text,
    make_view,
    meter,
)
from omnichat.ui.render import notice_text

EVIL = "Hi\x1b[2J\x1b]0;pwned\x07 there\x1b[31m!"


def _render(state: ViewState, width: int = 80, height: int = 40) -> str:
    """What the live view shows: the lines it printed to the scrollback, then its region."""
    console = Console(file=io.StringIO(), width=width, color_system=None)
    for item in list(state.to_print):
        console.print(line_text(item) if isinstance(item, Line) else notice_text(item))
    console.print(LiveRegion(state, height=height))
    return console.file.getvalue()


def _conversation() -> ViewState:
    state = ViewState()
    for update in [
        up.StatusChanged(up.LISTENING),
        up.TurnFinished(Turn("user", "Tell me a story")),
        up.AssistantStarted("r1"),
        up.AssistantDelta("r1", "Once upon"),
        up.AssistantDelta("r1", " a time there"),
        up.LatencyMeasured("r1", 640.0),
        up.Interrupted("r1", heard_chars=9, flushed_ms=800.0),
        up.TurnFinished(Turn("assistant", "Once upon a time there", response_id="r1",
                             interrupted=True, heard="Once upon", unheard="a time there",
                             latency_ms=640.0, usage={"input_tokens": 30, "output_tokens": 12})),
        up.StatusChanged(up.HEARING),
    ]:
        state.apply(update)
    state.mic_dbfs = -30.0
    return state


def test_live_view_shows_turns_cut_status_meter_latency_and_tokens():
    text = _render(_conversation())
    assert "you  Tell me a story" in text
    assert "qwen Once upon ✂ a time there  (640 ms)" in text
    assert "● hearing you" in text
    assert "mic " + meter(-30.0) in text and meter(-30.0).count("▮") == 6
    assert "latency 640 ms" in text and "tokens 30 in / 12 out" in text


def test_assistant_text_streams_before_the_turn_is_final():
    state = ViewState()
    state.apply(up.AssistantStarted("r1"))
    state.apply(up.AssistantDelta("r1", "Hello"))
    assert "qwen Hello" in _render(state)
    state.apply(up.AssistantDelta("r1", " world"))
    assert "qwen Hello world" in _render(state)


def test_a_late_user_transcription_goes_above_the_reply_it_triggered():
    state = ViewState()
    state.apply(up.AssistantStarted("r1"))
    state.apply(up.AssistantDelta("r1", "Paris."))
    state.apply(up.TurnFinished(Turn("user", "Capital of France?")))
    lines = [ln for ln in _render(state).splitlines() if ln.startswith(("you", "qwen"))]
    assert lines == ["you  Capital of France?", "qwen Paris."]


def test_server_text_with_escape_sequences_is_printed_clean():
    state = ViewState()
    state.apply(up.AssistantStarted("r1"))
    state.apply(up.AssistantDelta("r1", EVIL))
    state.apply(up.UserPreview("i1", "typing\x1b[1A"))
    state.apply(up.Notice("server error: bad\x1b[0m"))
    text = _render(state)
    assert "\x1b" not in text and "\x07" not in text
    assert "Hi there!" in text and "you  typing…" in text


def test_plain_view_prints_timestamped_lines_without_escapes():
    out = io.StringIO()
    view = PlainView(out)
    view.apply(up.StatusChanged(up.LISTENING))
    view.apply(up.TurnFinished(Turn("user", EVIL)))
    view.apply(up.Interrupted("r1", 9, 400.0))
    view.apply(up.TurnFinished(Turn("assistant", "Once upon a time", interrupted=True,
                                    heard="Once upon", unheard="a time", latency_ms=512.0)))
    text = out.getvalue()
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)
    lines = text.splitlines()
    assert all(re.match(r"^\[\d\d:\d\d:\d\d\] ", line) for line in lines)
    assert lines[1].endswith("you: Hi there!")
    assert lines[-1].endswith("qwen: Once upon [cut; not heard: a time] (latency 512 ms)")
    view.apply(up.TurnFinished(Turn("assistant", "Never", interrupted=True, heard="",
                                    unheard="Never")))  # cut before a word was heard
    assert out.getvalue().splitlines()[-1].endswith("qwen: [cut; not heard: Never]")


def test_make_view_picks_plain_for_a_pipe_and_live_for_a_terminal():
    assert isinstance(make_view(stream=io.StringIO()), PlainView)
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    view = make_view(console=console)
    try:
        assert isinstance(view, LiveView)
        view.apply(up.StatusChanged(up.SPEAKING))
        view.refresh(-12.0)
    finally:
        view.close()
    assert "● speaking" in console.file.getvalue()


def test_the_last_frame_after_the_session_closed_has_no_stale_hint():
    state = _conversation()
    assert "Ctrl+C to end" in _render(state)
    state.apply(up.StatusChanged(up.CLOSED))
    text = _render(state)
    assert "closed" in text and "Ctrl+C" not in text and "Once upon" in text


BIDI = "user\u202etxt.exe\u2066isolated\u2069 \u200emarks\u200f \u061calm"


def test_bidi_controls_from_the_server_reach_neither_view():
    state = ViewState()
    state.apply(up.TurnFinished(Turn("user", BIDI)))
    state.apply(up.TurnFinished(Turn("assistant", BIDI, response_id="r1")))
    state.apply(up.Notice(f"server error: {BIDI}"))
    live = _render(state)
    out = io.StringIO()
    view = PlainView(out)
    view.apply(up.TurnFinished(Turn("assistant", BIDI, response_id="r1")))
    view.apply(up.Notice(f"server error: {BIDI}"))
    for text in (live, out.getvalue()):
        assert not re.search("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", text)
        assert "usertxt.exeisolated marks alm" in text


def test_a_huge_server_error_is_cut_to_a_readable_line():
    huge = "E" * 5_000_000
    out = io.StringIO()
    view = PlainView(out)
    view.apply(up.Notice(f"server error: {huge}"))
    (line,) = out.getvalue().splitlines()
    assert len(line) < 400 and line.endswith("… (5000014 characters in all)")
    state = ViewState()
    state.apply(up.Notice(f"server error: {huge}"))
    assert "… (5000014 characters in all)" in _render(state)


def test_a_terminal_write_failing_with_eio_ends_the_session_as_a_hang_up(monkeypatch):
    import errno

    from omnichat.terminal import signals

    monkeypatch.setattr(signals, "_received", [])
    monkeypatch.setattr(signals, "detach_terminal", lambda: None)  # keep pytest's terminal

    class HungUp(io.StringIO):
        def write(self, text):
            raise OSError(errno.EIO, "Input/output error")

    view = PlainView(HungUp())
    with pytest.raises(signals.Terminated) as info:
        view.apply(up.StatusChanged(up.LISTENING))
    assert info.value.exit_code == 129 and signals.exit_code(130) == 129
    signals._on_signal(signal.SIGHUP, None)  # the real SIGHUP, arriving next: not raised again
