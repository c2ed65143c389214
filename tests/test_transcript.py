"""The JSONL transcript: written turn by turn, unwritable paths refused before the session."""

from __future__ import annotations

import errno
import os
import re
import resource
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from subprocess_support import read_until
from test_engine_support import write_wav
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.engine.turns import Turn
from omnichat.errors import OmnichatError, UsageError
from omnichat.transcript import TranscriptWriter, read_transcript

# Writable by the permission bits (root passes any access() probe) yet refuses new files.
PROC = Path("/proc/omnichat-transcript.jsonl")
needs_proc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux /proc")


@pytest.fixture
def question_16k(speech_pcm, tmp_path) -> Path:
    return write_wav(tmp_path / "question.wav", speech_pcm("What is the capital of France?"))


def test_turns_are_on_disk_before_close(tmp_path):
    path = tmp_path / "logs" / "t.jsonl"
    writer = TranscriptWriter(path)
    writer.write(Turn("user", "hello"))
    assert [t["text"] for t in read_transcript(path)] == ["hello"]  # flushed, not buffered
    writer.close()
    writer.close()  # idempotent
    writer.write(Turn("user", "late"))  # after close: ignored, not a crash
    assert [t["role"] for t in read_transcript(path)] == ["user"]


def test_a_session_without_turns_leaves_no_file_but_keeps_an_existing_one(tmp_path):
    fresh, old = tmp_path / "fresh.jsonl", tmp_path / "old.jsonl"
    old.write_text('{"role": "user", "text": "earlier", "timestamp": "x"}\n')
    for path in (fresh, old):
        TranscriptWriter(path).close()
    assert not fresh.exists() and old.exists()


@needs_proc
def test_a_path_that_refuses_files_fails_before_the_conversation():
    with pytest.raises(UsageError, match="--transcript"):
        TranscriptWriter(PROC)


@needs_proc
def test_cli_unwritable_transcript_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["talk", "--local", "--input", str(tmp_path / "none.wav"),
                                      "--output", str(tmp_path / "r.wav"),
                                      "--transcript", str(PROC)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(PROC) in lines[0] and "--transcript" in lines[0]


# ---- private, never special, nothing lost --------------------------------------------------


def test_transcript_and_the_folder_it_creates_are_private(tmp_path):
    path = tmp_path / "logs" / "deeper" / "t.jsonl"
    with TranscriptWriter(path) as writer:
        writer.write(Turn("user", "my bank PIN is 1234"))
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "logs").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "logs" / "deeper").stat().st_mode & 0o777 == 0o700


def test_a_fifo_as_transcript_is_refused_at_once_not_waited_on(tmp_path):
    fifo = tmp_path / "t.jsonl"
    os.mkfifo(fifo)
    result: dict = {}

    def open_writer():  # in a thread, so a regression hangs the thread, not the suite
        try:
            TranscriptWriter(fifo)
        except UsageError as exc:
            result["error"] = str(exc)

    thread = threading.Thread(target=open_writer, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock the open() that waits for a reader
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail("opening a FIFO as the transcript blocked")
    assert "it is a FIFO, not a regular file; choose another path with --transcript" \
        in result["error"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_control_characters_from_the_server_are_escaped_in_the_file(tmp_path):
    path = tmp_path / "t.jsonl"
    dirty = "csi\x9b31m nel\x85 rlo\u202etxt.exe lsep\u2028 del\x7f esc\x1b[2J tab\tnl\n"
    with TranscriptWriter(path) as writer:
        writer.write(Turn("assistant", dirty))
    raw = path.read_bytes().decode()
    assert raw.count("\n") == 1 and not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e\u2028]", raw)
    assert "\\u009b" in raw and "\\u202e" in raw
    assert read_transcript(path)[0]["text"] == dirty  # escaped, not lost


def test_a_failed_write_is_reported_once_and_leaves_no_half_line(tmp_path, monkeypatch):
    import omnichat.transcript as transcript

    path = tmp_path / "t.jsonl"
    writer = TranscriptWriter(path)
    writer.write(Turn("user", "kept"))
    real_write = os.write

    def full_disk(fd, data):  # a few bytes fit, then the disk is full
        if len(data) > 5:
            return real_write(fd, data[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transcript.os, "write", full_disk)
    with pytest.raises(OmnichatError, match="cannot write the transcript .*: No space left"):
        writer.write(Turn("assistant", "lost"))
    writer.write(Turn("user", "after the failure"))  # ignored: the file was given up
    writer.close()  # nothing is retried: no second error
    assert [t["text"] for t in read_transcript(path)] == ["kept"]


def test_disk_full_mid_conversation_is_one_line_and_no_traceback(question_16k, tmp_path):
    """A file-size limit makes the first line fail as a full disk would (EFBIG, not ENOSPC)."""
    transcript = tmp_path / "t.jsonl"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (40, hard))  # Python ignores SIGXFSZ
    try:
        result = CliRunner().invoke(app, [
            "talk", "--local", "--text-only", "--input", str(question_16k),
            "--transcript", str(transcript), "--input-pace", "8", "--emulator-speed", "fast"])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if "error" in line]
    assert errors == [f"omnichat: error: cannot write the transcript {transcript}: File too "
                      "large; the turns before this one are in the file"], result.output
    assert "Traceback" not in result.output


def test_kill_9_after_the_first_turn_leaves_a_complete_transcript(question_16k, tmp_path):
    transcript = tmp_path / "t.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnichat", "talk", "--local", "--text-only",
         "--input", str(question_16k), "--transcript", str(transcript), "--input-pace", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(proc, "qwen: ", 60)  # the first exchange is over
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    turns = read_transcript(transcript)  # every line is whole JSON
    assert [t["role"] for t in turns][:2] == ["user", "assistant"]
    assert all(t["text"] for t in turns)
    assert transcript.read_bytes().endswith(b"\n")
