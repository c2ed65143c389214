"""One-row parts of the view: the status line at any width, the hints per mode, the header,
the line editor and the mute marker; and the plain view's lines for cut replies."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from test_talk import FAST, question  # noqa: F401 (a fixture)

from omnichat.config.settings import Settings
from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.session.talk import TalkOptions, talk
from omnichat.ui import LiveRegion, PlainView, ViewConfig, ViewState


def _rows(state: ViewState, width: int = 80, height: int = 30) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(LiveRegion(state, height=height))
    return console.file.getvalue().splitlines()


def _busy_state(**config) -> ViewState:
    state = ViewState(config=ViewConfig(**config))
    for update in (up.StatusChanged(up.HEARING), up.LatencyMeasured("r1", 640.0),
                   up.TurnFinished(Turn("assistant", "Hi", response_id="r1", usage={
                       "input_tokens": 1234, "output_tokens": 567}))):
        state.apply(update)
    state.mic_dbfs = -30.0
    return state


def _status(rows: list[str]) -> str:
    (row,) = [row for row in rows if row.startswith("● ")]
    return row


def test_at_60_columns_the_status_line_drops_parts_instead_of_being_cut():
    row = _status(_rows(_busy_state(), width=60))
    assert row == "● hearing you ▮▮▮▮▮▮······  latency 640 ms  1234/567 tok"
    assert _status(_rows(_busy_state(), width=100)) == (
        "● hearing you  mic ▮▮▮▮▮▮······  latency 640 ms  tokens 1234 in / 567 out")


@pytest.mark.parametrize("width", range(8, 101))
def test_the_status_line_fits_every_width_and_never_ends_mid_word(width):
    row = _status(_rows(_busy_state(), width=width))
    assert len(row) <= width
    assert row.endswith(("you", "ms", "tok", "out", "·", "▮", "…")), row


def _hint(**config) -> str:
    state = ViewState(config=ViewConfig(**config))
    return _rows(state, width=100)[-1]


def test_hints_match_the_mode_and_the_keys():
    assert _hint(keys=True) == ("q to end · space or speak to interrupt · enter to type · "
                                "/ command · ? keys")
    assert _hint(keys=False) == "Ctrl+C to end · speak to interrupt"
    assert _hint(keys=True, text_only=True) == "q to end · enter to type · / command · ? keys"
    assert _hint(keys=False, text_only=True) == "Ctrl+C to end"
    assert _hint(keys=True, mode="ptt", hold=True).startswith("hold space to talk · q to end")
    assert _hint(keys=True, mode="ptt", hold=False).startswith("space to start/send · q to end")
    state = ViewState(config=ViewConfig(keys=True, mode="ptt"))
    state.apply(up.PushToTalkChanged(recording=True, hold=True))  # the keyboard said so
    assert _rows(state)[-1].startswith("hold space to talk") and "● REC" in _status(_rows(state))


def test_narrow_hints_drop_their_last_parts():
    state = ViewState(config=ViewConfig(keys=True))
    assert _rows(state, width=30)[-1] == "q to end"
    assert _rows(state, width=45)[-1] == "q to end · space or speak to interrupt"


def _header(state: ViewState, width: int = 100) -> str:
    (row,) = [row for row in _rows(state, width) if row.startswith("── ")]
    assert len(row) <= width
    return row.strip("─ ")


def test_the_header_names_model_voice_region_and_mode():
    config = ViewConfig(model="qwen3-omni-flash-realtime", voice="Tina", region="intl")
    assert _header(ViewState(config=config)) == (
        "omnichat · qwen3-omni-flash-realtime · voice Tina · intl (International (Singapore)) "
        "· talk")
    local = ViewConfig(model="qwen3-omni-flash-realtime", voice="Tina", local=True,
                       text_only=True)
    assert _header(ViewState(config=local)) == (
        "omnichat · qwen3-omni-flash-realtime · local emulator · talk · text replies")
    state = ViewState(config=ViewConfig(model="qwen3-omni-flash-realtime", voice="Tina"))
    state.apply(up.InputMode("ptt", keys=True))
    assert _header(state, 60) == "qwen3-omni-flash-realtime · voice Tina · ptt"
    assert _header(state, 40) == "qwen3-omni-flash-realtime · ptt"


def test_the_line_editor_and_the_mute_marker_are_drawn_when_the_keyboard_says_so():
    state = _busy_state()
    state.apply(up.EditorChanged("hello world", cursor=5, open=True))
    state.apply(up.MicMuted(True))
    rows = _rows(state)
    assert "> hello world" in rows and "muted" in _status(rows) and "▮" not in _status(rows)
    state.apply(up.EditorChanged("", cursor=0, open=False))
    state.apply(up.MicMuted(False))
    rows = _rows(state)
    assert not any(row.startswith(">") for row in rows) and "muted" not in _status(rows)


def test_a_long_editor_line_scrolls_to_keep_the_cursor_in_view():
    state = ViewState()
    text = "".join(f"{i % 10}" for i in range(200)) + "END"
    state.apply(up.EditorChanged(text, cursor=len(text), open=True))
    (row,) = [row for row in _rows(state, width=40) if row.startswith(">")]
    assert len(row) <= 40 and row.rstrip().endswith("END")


def test_a_tiny_terminal_keeps_the_status_line_and_the_newest_words():
    state = _busy_state()
    state.apply(up.AssistantStarted("r2"))
    state.apply(up.AssistantDelta("r2", " ".join(f"w{i}" for i in range(300))))
    rows = _rows(state, width=30, height=6)
    assert len(rows) == 5 and rows[-2].startswith("● ") and rows[-4].endswith("w299")
    assert [row[:2] for row in _rows(state, width=30, height=3)] == ["● ", "Ct"]
    assert [row[:2] for row in _rows(state, width=30, height=2)] == ["● "]


def _plain(turn: Turn) -> str:
    out = io.StringIO()
    PlainView(out).apply(up.TurnFinished(turn))
    return out.getvalue().rstrip("\n").split("] ", 1)[1]


def test_plain_lines_for_cut_and_empty_turns_have_no_empty_brackets():
    cut_at_end = Turn("assistant", "All of it", interrupted=True, heard="All of it", unheard="")
    assert _plain(cut_at_end) == "qwen: All of it [cut]"
    nothing = Turn("assistant", "", interrupted=True, heard="", unheard="")
    assert _plain(nothing) == "qwen: [cut before a word was said]"
    assert _plain(Turn("user", "", status="untranscribed")) == "you: (speech; no transcription)"
    no_count = Turn("assistant", "Hi", usage={"input_tokens": None, "output_tokens": 3})
    assert _plain(no_count) == "qwen: Hi (tokens 0 in / 3 out)"
    assert _plain(Turn("user", "", status="transcription_failed")) == (
        "you: (speech; the transcription failed)")


def test_plain_notices_say_their_level():
    out = io.StringIO()
    view = PlainView(out)
    view.apply(up.Notice("reconnected", level="info"))
    view.apply(up.Notice("slow network"))
    assert [line.split("] ", 1)[1] for line in out.getvalue().splitlines()] == [
        "info: reconnected", "warning: slow network"]


def test_talk_text_only_on_a_terminal_shows_its_mode_and_no_speaking_hint(
        question, tmp_path):  # noqa: F811
    console = Console(file=io.StringIO(), width=100, height=30, force_terminal=True,
                      color_system=None)
    options = TalkOptions(local=True, input_wav=question, transcript=tmp_path / "t.jsonl",
                          input_pace=8, emulator_speed="fast")
    talk(Settings(modalities=("text",)), options, console=console)
    screen = console.file.getvalue()
    assert "local emulator · talk · text replies" in screen
    assert "speak to interrupt" not in screen and "Ctrl+C to end" in screen
    assert "you  " in screen and "qwen " in screen


def test_information_is_not_marked_as_a_warning():
    from omnichat.ui.render import notice_text
    from omnichat.ui.state import Note

    state = ViewState()
    state.apply(up.Notice("echo handling: aec (echo canceller)", level="info"))
    state.apply(up.Notice("connection lost (timed out); reconnecting"))
    info, warning = state.take_printable()
    assert isinstance(info, Note) and notice_text(info).plain == (
        "· echo handling: aec (echo canceller)")
    assert notice_text(warning).plain == "! connection lost (timed out); reconnecting"


def test_push_to_talk_between_turns_is_ready_not_listening():
    state = ViewState(config=ViewConfig(mode="ptt", keys=True))
    state.apply(up.StatusChanged(up.LISTENING))
    assert _status(_rows(state)).startswith("● ready ")
    state.apply(up.PushToTalkChanged(recording=True, hold=False))
    assert _status(_rows(state)).startswith("● listening ")
    talk = ViewState(config=ViewConfig(mode="talk"))
    talk.apply(up.StatusChanged(up.LISTENING))
    assert _status(_rows(talk)).startswith("● listening ")
    plain = io.StringIO()
    view = PlainView(plain, ViewConfig(mode="ptt"))
    view.apply(up.StatusChanged(up.LISTENING))
    assert plain.getvalue().endswith("] ready\n")


def test_text_replies_from_slash_text_show_in_the_title():
    state = ViewState(config=ViewConfig(model="qwen3.5-omni-plus-realtime", voice="Tina",
                                        local=True))
    assert "text replies" not in " ".join(_rows(state))
    state.apply(up.RepliesChanged(text_only=True))
    assert "talk · text replies" in " ".join(_rows(state))
