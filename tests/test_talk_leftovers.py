"""After a failure only what exists is reported, and nothing half-made is left behind; a
session that never heard the user says why and what to change."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_engine_support import write_wav
from test_talk import FAST, SECRET, _env

from omnichat.session.talk import _times


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _talk(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omnichat", "talk", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=90, env=_env(**env))


def test_a_refused_connection_reports_no_files_and_leaves_no_stub(tmp_path, speech_pcm):
    question = write_wav(tmp_path / "q.wav", speech_pcm("Hello there."))
    config = tmp_path / "config.toml"
    config.write_text(f'[regions.intl]\nurl = "ws://127.0.0.1:{_closed_port()}/api-ws/v1/realtime"\n')
    reply, transcript = tmp_path / "reply.wav", tmp_path / "t.jsonl"
    proc = _talk(["--input", str(question), "--output", str(reply), "--transcript",
                  str(transcript)], tmp_path, OMNICHAT_CONFIG=str(config),
                 DASHSCOPE_API_KEY=SECRET)
    assert proc.returncode == 4, proc.stderr
    assert "connection refused" in proc.stderr
    assert "reply audio:" not in proc.stdout and "transcript:" not in proc.stdout
    assert not reply.exists() and not transcript.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "q.wav"]


def test_a_directory_as_transcript_is_one_error_and_not_reported_as_written(tmp_path,
                                                                          speech_pcm):
    question = write_wav(tmp_path / "q.wav", speech_pcm("Hello there."))
    proc = _talk(["--local", "--input", str(question), "--transcript", str(tmp_path), *FAST],
                 tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "transcript:" not in proc.stdout


def test_silent_input_ends_with_a_hint_naming_the_setting(tmp_path):
    quiet = (np.random.default_rng(1).normal(0, 3, 16_000 * 3)).astype(np.int16)  # -80 dBFS
    path = write_wav(tmp_path / "quiet.wav", quiet)
    proc = _talk(["--local", "--input", str(path), "--transcript", str(tmp_path / "t.jsonl"),
                  "--output", str(tmp_path / "r.wav"), *FAST], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "no speech was heard" in proc.stdout
    assert "[turn_detection] threshold" in proc.stdout and "dBFS" in proc.stdout


def test_appending_to_an_existing_transcript_is_said(tmp_path, speech_pcm):
    question = write_wav(tmp_path / "q.wav", speech_pcm("What time is it?"))
    transcript = tmp_path / "t.jsonl"
    transcript.write_text('{"role": "user", "text": "earlier", "timestamp": "2026-01-01"}\n')
    proc = _talk(["--local", "--input", str(question), "--transcript", str(transcript),
                  "--output", str(tmp_path / "r.wav"), *FAST], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"appending to the existing transcript {transcript}" in proc.stdout
    assert transcript.read_text().splitlines()[0].endswith('"2026-01-01"}')


@pytest.mark.parametrize(("count", "text"), [(1, "1 time"), (3, "3 times")])
def test_counts_read_as_english(count: int, text: str) -> None:
    assert _times(count, "time") == text
