"""``omnichat talk`` through faults, as a user runs it: the conversation goes on after the
network drops, and the API key appears in no output, file or trace of the session — across
a reconnection and a redirect attempt. The config-file warning is here too."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
from fault_proxy import FaultProxy
from test_engine_support import write_wav
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.config.warning import readable_by_others
from omnichat.engine.turns import Turn
from omnichat.transcript import TranscriptWriter, read_transcript

SECRET = "sk-test-reconnect-secret-0123456789"
PACE = ["--input-pace", "8", "--output-pace", "8"]


def _two_questions(speech_pcm, path: Path, gap_s: float = 8.0) -> Path:
    """Two questions with a long pause between them (the drop happens in the pause)."""
    gap = np.zeros(int(16_000 * gap_s), dtype=np.int16).tobytes()
    pcm = speech_pcm("What time is it?") + gap + speech_pcm("And what day is it?")
    return write_wav(path, pcm + np.zeros(16_000, dtype=np.int16).tobytes())


def _config(tmp_path: Path, url: str, monkeypatch, mode: int = 0o600) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'region = "lab"\n[regions.lab]\nurl = "{url}"\napi_key_env = "LAB_KEY"\n')
    config.chmod(mode)
    monkeypatch.setenv("OMNICHAT_CONFIG", str(config))
    monkeypatch.setenv("LAB_KEY", SECRET)
    return config


def _cut_after_first_reply(emu, proxy: FaultProxy) -> threading.Thread:
    def cut() -> None:
        try:
            emu.wait_for_session(index=0, timeout=30).wait_for("response.done", timeout=30)
        finally:
            proxy.cut()

    helper = threading.Thread(target=cut, name="test-cut")
    helper.start()
    return helper


def _files_text(root: Path) -> str:
    """Every file under ``root`` (names and bytes), as text."""
    parts = []
    for path in root.rglob("*"):
        parts.append(str(path))
        if path.is_file():
            parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_talk_goes_on_after_a_drop_and_the_key_appears_nowhere(
        make_emulator, speech_pcm, tmp_path, monkeypatch):
    trace = tmp_path / "trace.jsonl"
    emu = make_emulator(api_key=SECRET, trace=str(trace), replies=["It is noon."])
    proxy = FaultProxy("127.0.0.1", emu.port)
    _config(tmp_path, proxy.url(emu.url), monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    question = _two_questions(speech_pcm, tmp_path / "q.wav")
    helper = _cut_after_first_reply(emu, proxy)
    try:
        result = CliRunner().invoke(app, [
            "talk", "--input", str(question), "--output", str(out / "reply.wav"),
            "--transcript", str(out / "t.jsonl"), *PACE])
    finally:
        helper.join(30)
        proxy.close()
        emu.close()  # the trace file is complete
    assert result.exit_code == 0, result.output
    assert "reconnecting" in result.output and "reconnected after" in result.output
    assert "warning: config file" not in result.output  # 0600: no warning
    turns = read_transcript(out / "t.jsonl")
    # The drop may land while the first reply still streams to the client: that reply is kept,
    # cut by the network, and when the client cannot tell that the service had its question
    # whole, the question is replayed and answered again: two replies in a row, then.
    roles = [t["role"] for t in turns]
    shown = [r for i, r in enumerate(roles) if not (i and r == roles[i - 1] == "assistant")]
    assert shown == ["user", "assistant", "user", "assistant"], turns
    assert not turns[-1]["interrupted"]  # the second question's answer came whole
    # A reply cut before any of its text got through is recorded, empty, as cut by the network
    assert all(t["text"] or t.get("status") == "interrupted_by_network" for t in turns), \
        [(t["role"], t["text"], t.get("status")) for t in turns]
    assert len(emu.connections) == 2, result.output
    # The key: not in stdout/stderr, the transcript, the WAV (name or bytes), the trace.
    assert trace.stat().st_size > 0 and "session.update" in trace.read_text()
    assert SECRET not in result.output
    assert SECRET not in _files_text(out) and SECRET not in trace.read_text()
    # ... while both sockets did carry it, to the endpoint only.
    sent = [json.loads(line) for line in trace.read_text().splitlines()]
    assert sum(1 for rec in sent if rec.get("dir") == "in"
               and (rec.get("event") or {}).get("type") == "session.update") == 2


def _on_written(monkeypatch, role: str) -> threading.Event:
    """An Event set once the client's transcript writer has written a ``role`` turn to disk
    (the CLI runs in this process: the real writer, watched at its one ``write`` seam)."""
    written, write = threading.Event(), TranscriptWriter.write

    def write_and_tell(self: TranscriptWriter, turn: Turn) -> None:
        write(self, turn)
        if turn.role == role:
            written.set()

    monkeypatch.setattr(TranscriptWriter, "write", write_and_tell)
    return written


def test_a_redirect_on_reconnect_ends_in_one_line_and_the_key_goes_nowhere(
        make_emulator, speech_pcm, tmp_path, monkeypatch):
    emu = make_emulator(api_key=SECRET, replies=["It is noon."])
    proxy = FaultProxy("127.0.0.1", emu.port)
    _config(tmp_path, proxy.url(emu.url), monkeypatch)
    question = _two_questions(speech_pcm, tmp_path / "q.wav")
    out = tmp_path / "out"
    out.mkdir()

    answered = _on_written(monkeypatch, "assistant")

    def redirect_then_cut() -> None:
        try:
            emu.wait_for_session(index=0, timeout=30).wait_for("response.done", timeout=30)
            answered.wait(30)  # the client has written the first answer
            emu.faults.refuse_handshake(status=302, times=3)
        finally:
            proxy.cut()

    helper = threading.Thread(target=redirect_then_cut, name="test-cut")
    helper.start()
    try:
        result = CliRunner().invoke(app, ["talk", "--input", str(question), "--text-only",
                                          "--transcript", str(out / "t.jsonl"), *PACE])
    finally:
        helper.join(30)
        proxy.close()
    assert result.exit_code == 4, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("omnichat: error")]
    assert len(errors) == 1 and "redirected (HTTP 302)" in errors[0]
    assert "Traceback" not in result.output and SECRET not in result.output
    assert SECRET not in _files_text(out)
    assert [t["role"] for t in read_transcript(out / "t.jsonl")] == ["user", "assistant"]
    assert emu.faults.take_refusal() == 302  # one attempt, no retry loop


def test_a_config_file_others_can_read_gets_one_warning(tmp_path, monkeypatch):
    config = _config(tmp_path, "ws://127.0.0.1:9/api-ws/v1/realtime", monkeypatch, 0o644)
    missing = tmp_path / "missing.wav"
    result = CliRunner().invoke(app, ["talk", "--input", str(missing)])
    warnings = [line for line in result.output.splitlines() if "warning: config file" in line]
    assert len(warnings) == 1 and "readable by every user (mode 0644)" in warnings[0]
    assert f"chmod 600 {config}" in warnings[0] and SECRET not in result.output
    config.chmod(0o640)
    assert "readable by its group" in (readable_by_others(config) or "")
    config.chmod(0o600)
    assert readable_by_others(config) is None and readable_by_others(None) is None
    assert os.stat(config).st_mode & 0o777 == 0o600
