"""A real stdio MCP server (tests/mcp_server_fixture.py) in the user's hands: listed by
``omnichat tools``, called in a ``talk`` session, and its crash survived mid-conversation."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from test_engine_support import write_wav
from test_tool_session import WAIT_S, Chat
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.config.settings import Settings
from omnichat.session.tools import ToolOptions, ToolSession, tools_config
from omnichat.transcript import read_transcript

pytest.importorskip("mcp", reason="the optional mcp extra is not installed")

FIXTURE = str(Path(__file__).parent / "mcp_server_fixture.py")
pytestmark = pytest.mark.subprocess  # omnichat starts the MCP servers (tests/tiers.py)
FAST = ["--input-pace", "8", "--emulator-speed", "fast"]


def _config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'{extra}[tools]\nbuiltin = ["time"]\n\n[mcp.servers.fx]\n'
                      f'command = {json.dumps(sys.executable)}\nargs = [{json.dumps(FIXTURE)}]\n'
                      'startup_timeout_s = 60\n')
    return config


def test_omnichat_tools_lists_builtins_attachments_and_the_servers_tools(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNICHAT_CONFIG", str(_config(tmp_path)))
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    result = CliRunner().invoke(app, ["tools", "--json", "--attach", str(notes)])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert (rows["current_time"]["source"], rows["current_time"]["enabled"]) == ("builtin", True)
    assert rows["calculate"]["enabled"] is False  # a built-in that is off is listed too
    assert rows["read_attachment"]["enabled"] is True
    assert (rows["echo"]["source"], rows["echo"]["enabled"]) == ("mcp:fx", True)
    assert rows["erase"]["confirm"] is True and rows["echo"]["confirm"] is False


def test_a_talk_session_calls_the_servers_tool(make_emulator, speech_pcm, tmp_path,
                                               monkeypatch):
    emu = make_emulator(replies=['call echo {"text": "hi"}'])
    lab = f'region = "lab"\n[regions.lab]\nurl = "{emu.url}"\napi_key_env = "LAB_KEY"\n'
    monkeypatch.setenv("OMNICHAT_CONFIG", str(_config(tmp_path, lab)))
    monkeypatch.setenv("LAB_KEY", "sk-lab")
    question = write_wav(tmp_path / "q.wav", speech_pcm("Say hi through the echo tool."))
    transcript = tmp_path / "t.jsonl"
    result = CliRunner().invoke(app, ["talk", "--text-only", "--input", str(question),
                                      "--transcript", str(transcript), *FAST])
    assert result.exit_code == 0, result.output
    assert "MCP server 'fx': 6 tools" in result.output
    assert "qwen: ⚙ echo …" in result.output
    assert "qwen: ⚙ echo → echo: hi" in result.output
    records = read_transcript(transcript)
    tool = next(r for r in records if r["role"] == "tool")
    assert (tool["name"], tool["status"], tool["output"]) == ("echo", "ok", "echo: hi")
    assert records[-1]["role"] == "assistant"
    assert records[-1]["text"] == "The tool said: echo: hi."
    declared = emu.session.received[0].session["tools"]
    assert {t["function"]["name"] for t in declared} >= {"echo", "erase", "current_time"}


def test_a_server_that_dies_mid_session_is_withdrawn_and_the_talk_goes_on(emulator, tmp_path):
    settings = Settings(mcp_servers={"fx": {"command": sys.executable, "args": [FIXTURE],
                                            "startup_timeout_s": 60}})
    session = ToolSession(tools_config(settings), ToolOptions(yes=True))
    chat = None
    try:
        assert [c.up for c in session.box.start()] == [True]
        chat = Chat(emulator, [], tmp_path, session=session)
        pid = int(chat.say("call pid {}").removeprefix("The tool said: ").rstrip("."))
        os.kill(pid, signal.SIGKILL)
        # The call fails (or its tool is already gone), the model is told, and the server is
        # found dead.
        assert chat.say('call echo {"text": "anyone?"}').startswith("The tool said: error:")
        chat.wait_notice("MCP server 'fx'", WAIT_S)
        update = emulator.session.wait_for("session.update", direction="received", count=2,
                                           timeout=WAIT_S)
        assert update.session["tools"] == []  # every tool it offered is withdrawn
        [gone] = [n for n in chat.notices() if n.startswith("MCP server 'fx'")]  # said once
        assert gone.endswith("; its tools are withdrawn")
        assert chat.say("still there?").startswith("I read")  # the conversation goes on
    finally:
        if chat is not None:
            chat.close()
        session.close()

