"""A reply that only called a tool: its content is the call (``qwen ⚙ current_time → …``),
on the live screen, in plain output and in the transcript; never an empty ``qwen`` line."""

from __future__ import annotations

import re

from pty_session import speech_then_silence
from rich.console import Console
from typer.testing import CliRunner
from ui_screen import Screen

from omnichat.cli import app
from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.transcript import read_transcript
from omnichat.ui import LiveView, ViewConfig

FAST = ["--input-pace", "8", "--emulator-speed", "fast"]


def _call(status: str | None, output: str = "") -> up.ToolProgress:
    return up.ToolProgress("tool current_time({}) ...", level="info", name="current_time",
                           call_id="call_1", response_id="r1", arguments="{}",
                           status=status, output=output)


def test_the_live_view_shows_a_tool_only_reply_as_its_call_and_result():
    screen = Screen(60, 14)
    console = Console(file=screen, width=60, height=14, force_terminal=True,
                      color_system=None)
    view = LiveView(console, ViewConfig(model="qwen3-omni-flash-realtime", local=True))
    for update in (up.TurnFinished(Turn("user", "What time is it?", item_id="i1")),
                   up.AssistantStarted("r1"), _call(None)):
        view.apply(update)
        view.refresh(None)
    assert "qwen ⚙ current_time …" in screen.lines()
    view.apply(up.TurnFinished(Turn("assistant", "", response_id="r1",
                                    tool_calls=["current_time"])))
    view.apply(_call("ok", "12:03"))
    view.refresh(None)
    view.close()
    history = screen.history()
    assert "qwen ⚙ current_time → 12:03" in history
    assert not [row for row in history if row.strip() == "qwen"], history
    assert not [row for row in history if row.startswith("! tool")], history


def test_plain_output_and_the_transcript_record_the_call_as_the_replys_content(
        make_emulator, tmp_path, monkeypatch):
    emu = make_emulator(replies=["call current_time {}"])
    config = tmp_path / "config.toml"
    config.write_text(f'region = "lab"\n[regions.lab]\nurl = "{emu.url}"\n'
                      'api_key_env = "LAB_KEY"\n')
    monkeypatch.setenv("OMNICHAT_CONFIG", str(config))
    monkeypatch.setenv("LAB_KEY", "sk-lab")
    question = speech_then_silence(tmp_path / "q.wav", 1.0, 2.0)
    transcript = tmp_path / "t.jsonl"
    result = CliRunner().invoke(app, ["talk", "--text-only", "--tools", "time", "--input",
                                      str(question), "--transcript", str(transcript), *FAST])
    assert result.exit_code == 0, result.output
    assert re.search(r"\] qwen: ⚙ current_time → \{.*\}", result.output), result.output
    assert "(no text)" not in result.output
    assert "info: tools on: current_time (--tools time)" in result.output  # said at start
    records = read_transcript(transcript)
    made_call = next(r for r in records if r["role"] == "assistant")
    assert made_call["tool_calls"] == ["current_time"] and made_call["text"] == ""
    tool = next(r for r in records if r["role"] == "tool")
    assert (tool["name"], tool["status"]) == ("current_time", "ok")
