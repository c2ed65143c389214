"""qwen3.8 through ``omnichat talk`` (docs/qwen38.md): a session over a workspace endpoint
(a loopback emulator stands in for the workspace host), config show and doctor on
workspaces, and the late voice error ending the conversation in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_engine_support import write_wav
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.transcript import read_transcript

QWEN38 = "qwen3.8-omni-flash-realtime"
SECRET = "sk-test-secret-0123456789"
FAST = ["--input-pace", "8", "--emulator-speed", "fast", "--output-pace", "8"]


@pytest.fixture
def question(speech_pcm, tmp_path) -> Path:
    return write_wav(tmp_path / "question.wav", speech_pcm("What is the weather like?"))


def _workspace_region(emu, tmp_path: Path, monkeypatch) -> None:
    """A region whose plain url is dead and whose workspace endpoint is the emulator: the
    workspace id lands in the URL (as a query parameter, the one place a loopback stand-in
    can show it) and in the header."""
    config = tmp_path / "config.toml"
    config.write_text(f'region = "lab"\n[regions.lab]\nurl = "ws://127.0.0.1:9/api-ws/v1/realtime"\n'
                      f'workspace_url = "{emu.url}?ws={{workspace}}"\napi_key_env = "LAB_KEY"\n')
    config.chmod(0o600)
    monkeypatch.setenv("OMNICHAT_CONFIG", str(config))
    monkeypatch.setenv("LAB_KEY", SECRET)


def test_a_qwen38_session_uses_the_workspace_endpoint_and_header(make_emulator, question,
                                                                  tmp_path, monkeypatch):
    emu = make_emulator()
    _workspace_region(emu, tmp_path, monkeypatch)
    transcript = tmp_path / "t.jsonl"
    result = CliRunner().invoke(app, ["talk", "-m", QWEN38, "--workspace", "llm-test42",
                                      "--text-only", "--input", str(question),
                                      "--transcript", str(transcript), *FAST])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    request = emu.connection.websocket.request
    assert request.path == f"/api-ws/v1/realtime?ws=llm-test42&model={QWEN38}"
    assert request.headers["X-DashScope-WorkSpace"] == "llm-test42"
    session = emu.connection.received[0].session
    assert session["audio"]["output"]["voice"] == session["voice"] == "Tina"
    assert session["audio"]["input"]["format"]["channels"] == 1
    assert "input_audio_format" not in session
    assert [t["role"] for t in read_transcript(transcript)] == ["user", "assistant"]
    assert SECRET not in result.output


def test_config_show_builds_the_workspace_host_of_each_region(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNICHAT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("OMNICHAT_WORKSPACE", "llm-test42")
    for region, host in (("intl", "ap-southeast-1"), ("cn", "cn-beijing")):
        monkeypatch.setenv("OMNICHAT_REGION", region)
        shown = CliRunner().invoke(app, ["config", "show"]).output
        lines = {line.split()[0]: line for line in shown.splitlines() if line.strip()}
        assert f"wss://llm-test42.{host}.maas.aliyuncs.com/api-ws/v1/realtime" in lines["url"]
        assert "llm-test42  (env)" in lines["workspace"]


def test_a_bad_workspace_id_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNICHAT_CONFIG", str(tmp_path / "none.toml"))
    result = CliRunner().invoke(app, ["talk", "--workspace", "evil.example/x", "--local"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "not a workspace id" in result.output


def test_doctor_says_when_qwen38_has_no_workspace(tmp_path, monkeypatch):
    from omnichat.config.settings import load_settings
    from omnichat.doctor import _workspace_check

    checks: list = []
    settings = load_settings({"model": QWEN38}, environ={}, path=tmp_path / "none.toml")
    _workspace_check(settings, checks.append)
    assert [c.ok for c in checks] == [False]
    assert "workspace" in checks[0].line() and "OMNICHAT_WORKSPACE" in checks[0].line()
    checks.clear()
    settings = load_settings({"model": QWEN38, "workspace": "llm-a1"}, environ={},
                             path=tmp_path / "none.toml")
    _workspace_check(settings, checks.append)
    assert [c.ok for c in checks] == [True] and "llm-a1.ap-southeast-1" in checks[0].line()


def test_a_voice_the_service_refuses_ends_the_talk_in_one_line(make_emulator, question,
                                                               tmp_path, monkeypatch):
    # qwen3.8's voice list is not verified: a warning first, then the service's late error
    # ends the conversation at the first reply, with no reconnection or retry.
    emu = make_emulator()
    _workspace_region(emu, tmp_path, monkeypatch)
    result = CliRunner().invoke(app, ["talk", "-m", QWEN38, "--workspace", "llm-test42",
                                      "--voice", "Nobody", "--input", str(question),
                                      "--output", str(tmp_path / "r.wav"),
                                      "--transcript", str(tmp_path / "t.jsonl"), *FAST])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert [line for line in lines if line.startswith("omnichat: warning")] == [
        f"omnichat: warning: voice 'Nobody' is not in the list for {QWEN38}; the service "
        f"may refuse it when it first speaks; see `omnichat voices -m {QWEN38}`"]
    assert [line for line in lines if line.startswith("omnichat: error")] == [
        f"omnichat: error: the service does not support voice 'Nobody' for {QWEN38}; pick one "
        f"from `omnichat voices -m {QWEN38}` and set it with --voice"]
    assert len(emu.connections) == 1
    refusals = [e for e in emu.connection.sent if e["type"] == "error"]
    assert len(refusals) == 1


def test_voice_changes_the_voice_that_wins_on_qwen38(emulator):
    from omnichat.config.settings import Settings
    from omnichat.engine import Engine
    from omnichat.session.slash import SessionControl, SlashCommands
    from omnichat.transport import WebSocketTransport

    url = f"{emulator.url}?model={QWEN38}"
    engine = Engine(Settings(model=QWEN38).session_payload(),
                    connect=lambda: WebSocketTransport(url, None))
    with engine:
        control = SessionControl(engine, quit=lambda: None, toggle_mute=lambda: None,
                                 model=QWEN38)
        SlashCommands(control).run("/voice Ethan")
        update = emulator.connection.wait_for("session.update", direction="received", count=2)
        engine.send_text("hello")
        created = emulator.connection.wait_for("response.created", timeout=10)
    assert update.session["audio"]["output"] == {"voice": "Ethan"}
    assert update.session["voice"] == "Ethan"
    assert created["response"]["voice"] == "Ethan"  # audio.output.voice wins: it was changed
