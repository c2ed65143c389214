"""``--local`` with the emulator's scripts: other replies without a second terminal, a config
region or a dummy key (``--local-reply-script``), and spoken turns that say a given text
(``--local-heard-script``), so speech can call a tool."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.transcript import read_transcript

SAMPLE = Path(__file__).parents[1] / "omnichat" / "data" / "sample-question.wav"
FAST = ["--input-pace", "8", "--emulator-speed", "fast"]


def test_a_spoken_turn_says_the_heard_script_line_and_calls_the_tool(tmp_path):
    heard = tmp_path / "heard.txt"
    heard.write_text("\nWhat time is it? Use current_time.\n", encoding="utf-8")
    transcript = tmp_path / "t.jsonl"
    result = CliRunner().invoke(app, ["talk", "--local", "--local-heard-script", str(heard),
                                      "--tools", "time", "--text-only", "--input", str(SAMPLE),
                                      "--transcript", str(transcript), *FAST])
    assert result.exit_code == 0, result.output
    assert "] you: What time is it? Use current_time." in result.output
    assert "] qwen: ⚙ current_time → {" in result.output
    records = read_transcript(transcript)
    assert records[0] == {**records[0], "role": "user",
                          "text": "What time is it? Use current_time."}
    assert [r["name"] for r in records if r["role"] == "tool"] == ["current_time"]


def test_the_scripts_need_local_and_a_readable_file(tmp_path):
    script = tmp_path / "r.txt"
    script.write_text("Hi.\n", encoding="utf-8")
    alone = CliRunner().invoke(app, ["talk", "--local-reply-script", str(script)])
    assert alone.exit_code == 2
    assert alone.output == ("omnichat: error: --local-reply-script sets up the local emulator; "
                            "add --local\n")
    missing = CliRunner().invoke(app, ["ptt", "--local", "--local-heard-script",
                                       str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2
    assert "cannot read the heard script" in missing.output and "Traceback" not in missing.output


def test_a_local_reply_script_on_a_terminal_keeps_the_local_emulator_title(tmp_path):
    script = tmp_path / "long.txt"
    script.write_text("A long answer, scripted for the demo, that the emulator reads out.\n",
                      encoding="utf-8")
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}
    child = pexpect.spawn(sys.executable, [
        "-m", "omnichat", "talk", "--local", "--local-reply-script", str(script), "--input",
        str(SAMPLE), "--output", str(tmp_path / "o.wav"), "--transcript",
        str(tmp_path / "t.jsonl"), *FAST, "--output-pace", "8"],
        env=env, dimensions=(30, 160), encoding="utf-8", timeout=30, cwd=str(tmp_path))
    child.expect_exact("local emulator")
    child.expect_exact("scripted for the demo")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert read_transcript(tmp_path / "t.jsonl")[-1]["text"].startswith("A long answer")
