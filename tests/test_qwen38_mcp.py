"""Server-side MCP (qwen3.8, docs/qwen38.md): the real engine and ToolSession against the
emulator, which asks for approval and then calls a real MCP server over HTTP on loopback.
One call approved, one denied; the token never shows; other models refuse the tables."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_engine_support import finished, write_wav
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.config.settings import Settings
from omnichat.engine import Engine
from omnichat.engine import updates as up
from omnichat.session.tools import ToolOptions, ToolSession
from omnichat.tools import ToolsConfig
from omnichat.tools.remote import remote_tools
from omnichat.transcript import TranscriptWriter, read_transcript
from omnichat.transport import WebSocketTransport

QWEN38 = "qwen3.8-omni-flash-realtime"
FIXTURE = str(Path(__file__).parent / "mcp_server_fixture.py")
TOKEN = "tok-secret-0123456789"
WAIT_S = 20.0


@pytest.fixture(scope="module")
def mcp_url():
    """The fixture MCP server (echo, add, ...) over streamable HTTP on loopback."""
    server = subprocess.Popen([sys.executable, FIXTURE, "--http"], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{int(server.stdout.readline())}/mcp"
    finally:
        server.kill()
        server.wait(10)
        server.stdout.close()


class Answer:
    """The y/n prompt at its seam: records each question and answers ``yes``."""

    def __init__(self, yes: bool) -> None:
        self.yes = yes
        self.questions: list[str] = []

    def ask(self, text: str) -> bool:
        self.questions.append(text)
        return self.yes

    def answer(self, yes: bool) -> bool:
        return False


def _chat(emu, mcp_url: str, tmp_path: Path, prompt: Answer) -> tuple[Engine, ToolSession]:
    tables = {"docs": {"url": mcp_url, "authorization_env": "DOCS_TOKEN",
                       "allowed_tools": ["echo"], "require_approval": "always"}}
    remote = remote_tools(tables, QWEN38, "test config", environ={"DOCS_TOKEN": TOKEN})
    tools = ToolSession(ToolsConfig(), ToolOptions(), remote=remote,
                        writer=TranscriptWriter(tmp_path / "t.jsonl"))
    session = {**Settings(model=QWEN38, modalities=("text",)).session_payload(),
               **tools.session_fields()}
    url = f"{emu.url}?model={QWEN38}"
    engine = Engine(session, connect=lambda: WebSocketTransport(url, None),
                    on_turn=tools.writer.write, **tools.engine_callbacks())
    tools.attach(engine)
    tools.approvals.prompt = prompt
    engine.start()
    return engine, tools


def _answer(engine: Engine, seen: list) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for update in engine.poll(0.05):
            seen.append(update)
            if isinstance(update, up.Failed):
                raise update.error
            if finished("assistant")(update) and update.turn.text:  # type: ignore[attr-defined]
                return update.turn.text  # type: ignore[attr-defined]
    raise AssertionError(f"no answer within {WAIT_S} s; seen {seen}")


@pytest.mark.parametrize("approve", [True, False])
def test_an_mcp_approval_is_asked_and_answered(approve, emulator, mcp_url, tmp_path):
    prompt = Answer(approve)
    engine, tools = _chat(emulator, mcp_url, tmp_path, prompt)
    seen: list = []
    try:
        engine.send_text('mcp docs.echo {"text": "hi"}')
        text = _answer(engine, seen)
    finally:
        engine.close()
        tools.close()
    assert prompt.questions == ['allow the service to call docs.echo({"text": "hi"})?']
    received = emulator.connection.received
    sent_tools = received[0].session["tools"]
    assert sent_tools == [{"type": "mcp", "server_label": "docs", "server_url": mcp_url,
                           "authorization": TOKEN, "allowed_tools": ["echo"],
                           "require_approval": "always"}]
    answers = [e.item for e in received if e.type == "conversation.item.create"
               and e.item.get("type") == "mcp_approval_response"]
    assert [a["approve"] for a in answers] == [approve]
    calls = [e["item"] for e in emulator.connection.sent
             if (e.get("item") or {}).get("type") == "mcp_call"]
    notices = [u.text for u in seen if isinstance(u, up.Notice)]
    if approve:
        assert text == "The tool said: echo: hi."
        assert [c["output"] for c in calls] == ["echo: hi"]
        assert "mcp docs.echo: ok: echo: hi" in notices
    else:
        assert text == "The tool said: not called: the user declined docs.echo."
        assert calls == []
    records = [r for r in read_transcript(tmp_path / "t.jsonl") if r["role"] == "tool"]
    assert records[0]["name"] == "docs.echo"
    assert records[0]["status"] == ("approved" if approve else "declined")
    everything = json.dumps(records) + " ".join(notices) + " ".join(map(str, seen))
    assert TOKEN not in everything


def _config(tmp_path: Path, monkeypatch, url: str = "https://mcp.example.com/mcp") -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[mcp.remote.docs]\nurl = "{url}"\nauthorization_env = "DOCS_TOKEN"\n'
                      f'allowed_tools = ["search"]\n')
    monkeypatch.setenv("OMNICHAT_CONFIG", str(config))
    monkeypatch.setenv("DOCS_TOKEN", TOKEN)


def test_tools_lists_remote_servers_with_their_source(tmp_path, monkeypatch):
    _config(tmp_path, monkeypatch)
    listed = CliRunner().invoke(app, ["tools", "-m", QWEN38])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "mcp-remote:docs" in line)
    assert row.split("\t")[:6] == ["search", "", "mcp-remote:docs", "yes", "yes",
                                   "https://mcp.example.com/mcp"]
    other = CliRunner().invoke(app, ["tools", "-m", "qwen3.5-omni-plus-realtime"])
    row = next(line for line in other.output.splitlines() if "mcp-remote:docs" in line)
    assert row.split("\t")[3] == "no" and "needs qwen3.8-omni-flash-realtime" in row
    shown = CliRunner().invoke(app, ["config", "show"]).output
    assert "mcp_remote" in shown and "docs  (file)" in shown
    assert TOKEN not in listed.output + other.output + shown


def test_other_models_refuse_remote_servers_in_one_line(tmp_path, monkeypatch):
    _config(tmp_path, monkeypatch)
    question = write_wav(tmp_path / "q.wav", bytes(3200))
    result = CliRunner().invoke(app, ["talk", "--local", "--text-only", "--input",
                                      str(question), "--transcript", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines()
              if line.startswith("omnichat: error")]
    assert len(errors) == 1 and "[mcp.remote.docs]: server-side MCP needs" in errors[0]


def test_a_secret_in_the_file_is_refused(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[mcp.remote.docs]\nurl = "https://x.example/mcp"\n'
                      'authorization = "tok"\n')
    monkeypatch.setenv("OMNICHAT_CONFIG", str(config))
    result = CliRunner().invoke(app, ["tools", "-m", QWEN38])
    assert result.exit_code == 2
    assert "authorization_env" in result.output and "tok\"" not in result.output
