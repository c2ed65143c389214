"""SIGTERM and SIGHUP end a conversation like Ctrl+C: one line, 143/129, nothing lost."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from subprocess_support import read_until
from test_engine_support import write_wav

from omnichat.terminal import signals
from omnichat.transcript import read_transcript


@pytest.fixture
def question(speech_pcm, tmp_path) -> Path:
    return write_wav(tmp_path / "question.wav", speech_pcm("What is the capital of France?"))


def _reply_audio_started(folder: Path) -> bool:
    """True once the ``--output`` temp file holds a non-silent sample (the reply is playing)."""
    for part in folder.glob(".r.wav.*.part"):
        data = part.read_bytes()[44:]
        if np.frombuffer(data[: len(data) & ~1], dtype="<i2").any():
            return True
    return False


def _wait_for_reply_audio(proc: subprocess.Popen, folder: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not _reply_audio_started(folder):
        assert time.monotonic() < deadline, "no reply audio in the --output file"
        try:  # the poll interval doubles as a check that the process is still alive
            proc.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"omnichat ended early: {proc.stderr.read().decode()}")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_mid_reply_ends_like_ctrl_c(question, tmp_path, signum, code):
    transcript, reply = tmp_path / "t.jsonl", tmp_path / "r.wav"
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnichat", "talk", "--local", "--input", str(question),
         "--output", str(reply), "--transcript", str(transcript), "--input-pace", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(proc, "you: ", 30)  # the question was heard
        _wait_for_reply_audio(proc, tmp_path, 30)  # and the answer is being spoken
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    assert b"Traceback" not in err and len(err.decode().strip().splitlines()) == 1, err
    assert f"terminated ({signal.Signals(signum).name})".encode() in err  # says which signal
    assert f"transcript: {transcript}".encode() in out
    turns = read_transcript(transcript)
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert turns[1]["text"]  # the partial reply, as far as it came
    with wave.open(str(reply)) as w:  # finalised: a valid WAV holding the reply's start
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24_000, 1, 2)
        assert np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").any()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["question.wav", "r.wav", "t.jsonl"]


def test_the_handler_raises_once_and_reports_the_signal(monkeypatch):
    monkeypatch.setattr(signals, "_received", [])
    with pytest.raises(KeyboardInterrupt) as info:
        signals._on_signal(signal.SIGTERM, None)
    assert isinstance(info.value, signals.Terminated) and info.value.exit_code == 143
    assert str(info.value) == "terminated (SIGTERM)"
    signals._on_signal(signal.SIGHUP, None)  # during clean-up: recorded, not raised
    assert signals.received() == signal.SIGTERM and signals.exit_code(130) == 143


def test_a_sighup_ignored_at_start_stays_ignored(monkeypatch):
    installed = {}
    monkeypatch.setattr(signals.signal, "getsignal",
                        lambda s: signal.SIG_IGN if s == signal.SIGHUP else signal.SIG_DFL)
    monkeypatch.setattr(signals.signal, "signal", lambda s, h: installed.setdefault(s, h))
    signals.install()
    assert list(installed) == [signal.SIGTERM]


def test_a_terminal_that_hangs_up_ends_like_sighup(question, tmp_path):
    """The live view on a pseudo-terminal; closing its master side is a real hang-up (writes
    fail with EIO, then SIGHUP comes): exit 129 and the transcript keeps the cut reply."""
    import os
    import pty
    import select

    transcript = tmp_path / "t.jsonl"
    pid, master = pty.fork()
    if pid == 0:  # the child: straight into omnichat, on the terminal
        os.execv(sys.executable, [sys.executable, "-m", "omnichat", "talk", "--local",
                                  "--text-only", "--input", str(question),
                                  "--transcript", str(transcript), "--input-pace", "4"])
    pidfd = os.pidfd_open(pid)
    status = None
    try:
        seen, deadline = b"", time.monotonic() + 30
        while b"qwen " not in seen:  # the reply has started (the header says "qwen3...")
            left = deadline - time.monotonic()
            assert left > 0 and select.select([master], [], [], left)[0], seen[-500:]
            seen += os.read(master, 65536)
        os.close(master)  # hang up
        master = -1
        assert select.select([pidfd], [], [], 20)[0], "omnichat did not end after the hang-up"
        status = os.waitpid(pid, 0)[1]
    finally:
        os.close(pidfd)
        if master >= 0:
            os.close(master)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 129
    turns = read_transcript(transcript)
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert turns[1]["interrupted"] is True
