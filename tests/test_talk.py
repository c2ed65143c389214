"""``omnichat talk`` through the real entry points: files instead of devices, errors, Ctrl+C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from subprocess_support import read_until
from test_engine_support import write_wav
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.config.settings import Settings
from omnichat.session.talk import TalkOptions, talk
from omnichat.transcript import read_transcript

ESCAPE = re.compile(r"\x1b|\x9b")
SECRET = "sk-test-secret-0123456789"
FAST = ["--input-pace", "8", "--emulator-speed", "fast", "--output-pace", "8"]


@pytest.fixture
def question(speech_pcm, tmp_path) -> Path:
    return write_wav(tmp_path / "question.wav", speech_pcm("What is the capital of France?"))


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DASHSCOPE_API_KEY"}
    env.update(extra)
    return env


def _check_session_files(transcript: Path, reply: Path | None) -> list[dict]:
    turns = read_transcript(transcript)
    assert {t["role"] for t in turns} == {"user", "assistant"}
    for turn in turns:
        assert turn["text"] and turn["timestamp"]
    if reply is not None:
        with wave.open(str(reply)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24_000, 1, 2)
            assert w.getnframes() > 24_000 // 2
    return turns


def test_file_mode_through_the_real_entry_point(question, tmp_path):
    reply, transcript = tmp_path / "out" / "reply.wav", tmp_path / "out" / "t.jsonl"
    (tmp_path / "out").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "omnichat", "talk", "--local", "--input", str(question),
         "--output", str(reply), "--transcript", str(transcript), *FAST],
        capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert not ESCAPE.search(proc.stdout + proc.stderr)
    assert f"transcript: {transcript}" in proc.stdout and f"reply audio: {reply}" in proc.stdout
    assert re.search(r"^\[\d\d:\d\d:\d\d\] you: ", proc.stdout, re.M)
    assert re.search(r"^\[\d\d:\d\d:\d\d\] qwen: .*latency \d+ ms", proc.stdout, re.M)
    turns = _check_session_files(transcript, reply)
    assistant = next(t for t in turns if t["role"] == "assistant")
    assert assistant["interrupted"] is False and assistant["usage"]["output_tokens"] > 0
    assert "latency_ms" in assistant


def test_file_mode_via_clirunner_and_default_transcript_dir(question, tmp_path, monkeypatch):
    monkeypatch.setenv("OMNICHAT_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text(f'transcript_dir = "{tmp_path / "logs"}"\n')
    reply = tmp_path / "reply.wav"
    result = CliRunner().invoke(app, ["talk", "--local", "--input", str(question),
                                      "--output", str(reply), *FAST])
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "logs").glob("*.jsonl"))
    assert len(files) == 1 and f"transcript: {files[0]}" in result.output
    _check_session_files(files[0], reply)
    assert not ESCAPE.search(result.output)


def test_text_only_via_cli(question, tmp_path):
    transcript = tmp_path / "t.jsonl"
    result = CliRunner().invoke(app, ["talk", "--local", "--text-only", "--input", str(question),
                                      "--transcript", str(transcript), *FAST])
    assert result.exit_code == 0, result.output
    turns = _check_session_files(transcript, None)
    assert "qwen: " in result.output and "reply audio" not in result.output
    assert next(t for t in turns if t["role"] == "assistant")["usage"]["output_tokens"] > 0


def test_text_only_with_output_is_a_usage_error(question, tmp_path):
    result = CliRunner().invoke(app, ["talk", "--local", "--text-only", "--input", str(question),
                                      "--output", str(tmp_path / "r.wav")])
    assert result.exit_code == 2 and "--text-only" in result.output


# ---- errors ----------------------------------------------------------------------------------


def test_no_key_names_the_variable_the_readme_section_and_local():
    """``config init`` cannot store a key: the line points where keys are explained."""
    result = CliRunner().invoke(app, ["talk"])
    assert result.exit_code == 5
    line = result.output.strip()
    assert "DASHSCOPE_API_KEY" in line and "--local" in line and "config init" not in line
    assert '"Getting a key"' in line and len(line.splitlines()) == 1
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Getting a key\n", 1)[1].split("\n## ", 1)[0]
    for fact in ("https://www.alibabacloud.com/help/en/model-studio/get-api-key",
                 "only in the region", "omnichat doctor", "Model list", "--local"):
        assert fact in section, fact


def test_401_from_the_service_never_shows_the_key(make_emulator, tmp_path, monkeypatch):
    emu = make_emulator(api_key="the-right-key")
    config = tmp_path / "config.toml"
    config.write_text(f'region = "lab"\n[regions.lab]\nurl = "{emu.url}"\n'
                      f'api_key_env = "LAB_KEY"\n')
    monkeypatch.setenv("OMNICHAT_CONFIG", str(config))
    monkeypatch.setenv("LAB_KEY", SECRET)
    transcript = tmp_path / "t.jsonl"
    result = CliRunner().invoke(app, ["talk", "--output", str(tmp_path / "r.wav"),
                                      "--input", str(write_wav(tmp_path / "q.wav", bytes(3200))),
                                      "--transcript", str(transcript)])
    assert result.exit_code == 5, result.output
    assert "'lab'" in result.output and "LAB_KEY" in result.output and "401" in result.output
    assert SECRET not in result.output
    assert not transcript.exists()  # no turn, no file


def _lab_region(emu, tmp_path, monkeypatch, top: str = "") -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'{top}region = "lab"\n[regions.lab]\nurl = "{emu.url}"\n'
                      f'api_key_env = "LAB_KEY"\n')
    monkeypatch.setenv("OMNICHAT_CONFIG", str(config))
    monkeypatch.setenv("LAB_KEY", SECRET)


@pytest.mark.parametrize("fault, code, words", [
    ("close_mid_response", 6, "closed the connection"),
    ("send_malformed", 7, "cannot read"),
])
def test_a_failing_server_is_one_line_and_keeps_what_was_said(
        fault, code, words, make_emulator, question, tmp_path, monkeypatch):
    emu = make_emulator()
    # Without reconnection a drop ends the talk (test_faults_talk.py: with it, it goes on).
    _lab_region(emu, tmp_path, monkeypatch, top="reconnect_attempts = 0\n")
    transcript = tmp_path / "t.jsonl"
    args = ["talk", "--input", str(question), "--output", str(tmp_path / "r.wav"),
            "--transcript", str(transcript), *FAST]
    if fault == "send_malformed":  # after the user's turn, in the middle of the reply
        emu.hold_responses(after_packets=1)
        runner = _run_with(args, before_reply=lambda: (emu.faults.send_malformed(),
                                                       emu.release_responses()), emu=emu)
    else:
        getattr(emu.faults, fault)()
        runner = CliRunner().invoke(app, args)
    assert runner.exit_code == code, runner.output
    errors = [line for line in runner.output.splitlines() if line.startswith("omnichat: error")]
    assert len(errors) == 1 and words in errors[0] and SECRET not in runner.output
    assert "Traceback" not in runner.output
    roles = [t["role"] for t in read_transcript(transcript)]
    assert roles == ["user", "assistant"]
    assert re.search(r"^\[\d\d:\d\d:\d\d\] qwen: .*\[cut; not heard", runner.output, re.M)


def _run_with(args, before_reply, emu):
    """Invoke the CLI while a helper thread fires ``before_reply`` once the reply started."""
    import threading

    def arm():
        try:
            session = emu.wait_for_session(index=0, timeout=30)
            session.wait_for("response.audio.delta", timeout=30)
        finally:  # fire (or at least release the held reply) whatever happened
            before_reply()

    helper = threading.Thread(target=arm, name="test-arm-fault")
    helper.start()
    try:
        return CliRunner().invoke(app, args)
    finally:
        helper.join(30)


def test_connection_refused_names_the_url(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(url=f"ws://127.0.0.1:{port}/api-ws/v1/realtime", api_key=SECRET,
                        transcript_dir=tmp_path)
    from omnichat.errors import ConnectFailed
    with pytest.raises(ConnectFailed) as info:
        talk(settings, TalkOptions(input_wav=write_wav(tmp_path / "q.wav", bytes(3200)),
                                   output_wav=tmp_path / "r.wav"))
    assert f"127.0.0.1:{port}" in str(info.value) and SECRET not in str(info.value)
    assert info.value.exit_code == 4


def test_bad_wav_path_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["talk", "--local", "--input", str(tmp_path / "nope.wav"),
                                      "--output", str(tmp_path / "r.wav")])
    assert result.exit_code == 2
    assert "nope.wav" in result.output and "Traceback" not in result.output


def test_unwritable_output_path_is_one_line_exit_2_and_no_session(question, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(app, ["talk", "--local", "--input", str(question), "--output",
                                      str(blocker / "reply.wav"), *FAST])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"omnichat: error: cannot write WAV '{blocker / 'reply.wav'}': Not a directory; "
        "choose another path"]


class _NoPortAudio:
    """A meta-path finder that makes ``import sounddevice`` fail like a missing libportaudio."""

    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


def test_portaudio_missing_gives_the_fix(question, tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    result = CliRunner().invoke(app, ["talk", "--local", "--input", str(question),
                                      "--transcript", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 3, result.output
    assert "libportaudio2" in result.output and "--output" in result.output


def test_no_output_device_gives_the_fix(question, tmp_path, monkeypatch):
    from omnichat.audio import devices
    monkeypatch.setattr(devices, "list_devices", lambda: [])
    result = CliRunner().invoke(app, ["talk", "--local", "--input", str(question),
                                      "--transcript", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 3, result.output
    assert "no audio output device" in result.output and "--output" in result.output


# ---- Ctrl+C ----------------------------------------------------------------------------------


def test_ctrl_c_ends_cleanly_with_130(question, tmp_path):
    transcript, reply = tmp_path / "t.jsonl", tmp_path / "r.wav"
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnichat", "talk", "--local", "--input", str(question),
         "--output", str(reply), "--transcript", str(transcript)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        read_until(proc, "you: ", 30)  # mid-conversation: the reply is on its way
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert b"Traceback" not in err and b"interrupted" in err
    assert f"transcript: {transcript}".encode() in out and reply.exists()
    assert [t["role"] for t in read_transcript(transcript)][0] == "user"


def test_talk_refuses_plain_ws_to_a_remote_host_unless_allowed(question, tmp_path, monkeypatch):
    """The transport settings reach the socket: a region whose url is ws:// on a remote host
    stops before any connection, naming the flag; --allow-insecure lets it try (and the
    connect deadline from --connect-timeout bounds that try)."""
    config = tmp_path / "config.toml"
    config.write_text('[regions.intl]\nurl = "ws://omnichat-test.invalid/api-ws/v1/realtime"\n')
    monkeypatch.setenv("OMNICHAT_CONFIG", str(config))
    monkeypatch.setenv("DASHSCOPE_API_KEY", SECRET)
    args = ["talk", "--input", str(question), "--output", str(tmp_path / "r.wav"),
            "--transcript", str(tmp_path / "t.jsonl")]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "--allow-insecure" in refused.output
    tried = CliRunner().invoke(app, [*args, "--allow-insecure", "--connect-timeout", "2"])
    assert tried.exit_code == 4, tried.output  # the name does not resolve: a connect error
    assert "does not resolve; check the region name" in tried.output  # and how to fix it
    assert "--allow-insecure" not in tried.output and SECRET not in tried.output
