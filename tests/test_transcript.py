"""The JSONL transcript: written turn by turn, unwritable paths refused before the session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.engine.turns import Turn
from omnichat.errors import UsageError
from omnichat.transcript import TranscriptWriter, read_transcript

# Writable by the permission bits (root passes any access() probe) yet refuses new files.
PROC = Path("/proc/omnichat-transcript.jsonl")
needs_proc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux /proc")


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
