"""The transcript of a session: one JSON object per turn, each line on disk as it happens.

A line per finished turn (``Turn.to_record()``): ``role``, ``text``, ``timestamp`` (ISO 8601,
UTC) and, for assistant turns, ``interrupted`` plus ``heard``/``unheard`` when a barge-in cut
the reply, ``latency_ms`` and ``usage`` where known. Each line goes to the OS in one
``os.write`` of the whole line (no buffer in this process), so a crash, ``kill -9`` or a dead
network loses nothing already said and never leaves half a line. The file is private (0600,
in a 0700 folder when omnichat creates it). Control characters a terminal would act on (C1,
bidi overrides) are stored JSON-escaped, so ``cat`` of a transcript is safe. The API key is
never part of a turn, so it can never reach this file.

Before the first turn of each session the writer puts a ``"role": "session"`` record (model,
voice, region, conversation id; see docs/transcript.md), so ``omnichat history`` can list
and resume the conversation.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from omnichat.engine.turns import Turn
from omnichat.errors import OmnichatError, UsageError
from omnichat.private_file import FILE_MODE, describe_mode, make_private_dirs, special_file
from omnichat.sanitize import escape_controls

# O_NONBLOCK: opening a FIFO for writing must fail (ENXIO) rather than wait for a reader.
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def session_path(directory: Path, started: datetime) -> Path:
    """A new file in ``directory`` named by the session's local start time."""
    stem = started.astimezone().strftime("%Y-%m-%dT%H-%M-%S")
    path = Path(directory) / f"{stem}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = Path(directory) / f"{stem}-{n}.jsonl"
    return path


def encode_turn(turn: Turn) -> bytes:
    """One JSONL line: UTF-8, C0 escaped by json, C1/bidi/line separators escaped here."""
    return encode_record(turn.to_record())


def encode_record(record: dict[str, Any]) -> bytes:
    """Any transcript record as one JSONL line, escaped as ``encode_turn`` does."""
    return (escape_controls(json.dumps(record, ensure_ascii=False)) + "\n").encode()


class TranscriptWriter:
    """Appends turns to a JSONL file; safe to call from the receiver and the main thread.

    ``session`` (a ``"role": "session"`` record) is written just before the first turn, so a
    session that said nothing leaves no line. ``observers`` are called with each turn after
    its line is on disk, on the writing thread, outside the lock (they must not block)."""

    def __init__(self, path: Path, session: dict[str, Any] | None = None):
        self.path = Path(path)
        self.turns_written = 0
        self.observers: list[Callable[[Turn], None]] = []
        self._session_line = encode_record(session) if session is not None else None
        self._lock = threading.Lock()  # keeps lines whole and in order across threads
        # Opened now, so an unwritable path fails before the conversation (a permission
        # probe says yes to /proc or a full disk); removed at close if no turn was written.
        self._created = not self.path.exists()
        self._closed = False
        self._fd: int | None = self._open()

    def _refuse(self, reason: str) -> UsageError:
        return UsageError(f"cannot write the transcript {self.path}: {reason}; "
                          "choose another path with --transcript")

    def _open(self) -> int:
        kind = special_file(self.path)
        if kind is not None:
            raise self._refuse(f"it is {kind}, not a regular file")
        try:
            make_private_dirs(self.path.parent)
            fd = os.open(self.path, _OPEN_FLAGS, FILE_MODE)
        except OSError as exc:
            raise self._refuse(exc.strerror or str(exc)) from exc
        kind = describe_mode(os.fstat(fd).st_mode)  # swapped in since the check above
        if kind is not None:
            os.close(fd)
            raise self._refuse(f"it is {kind}, not a regular file")
        return fd

    def write(self, turn: Turn) -> None:
        """Write one turn as one line; a failed write ends the transcript with one error."""
        line = encode_turn(turn)
        with self._lock:
            if self._fd is None:
                return
            try:
                if self._session_line is not None:
                    _write_line(self._fd, self._session_line)
                    self._session_line = None
                _write_line(self._fd, line)
            except OSError as exc:  # e.g. the disk filled up mid-conversation
                fd, self._fd = self._fd, None  # never retried: not at close, not later
                os.close(fd)
                raise OmnichatError(f"cannot write the transcript {self.path}: "
                                    f"{exc.strerror or exc}; the turns before this one are "
                                    "in the file") from exc
            self.turns_written += 1
        for observe in self.observers:
            observe(turn)

    def close(self) -> None:
        """Idempotent. A transcript without a single turn is not left behind."""
        with self._lock:
            fd, self._fd = self._fd, None
            closed, self._closed = self._closed, True
        if fd is not None:
            os.close(fd)
        if not closed and self._created and self.turns_written == 0:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> TranscriptWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_line(fd: int, line: bytes) -> None:
    """The whole line or nothing: a short write that cannot finish is cut back off."""
    start = os.fstat(fd).st_size
    done = 0
    try:
        while done < len(line):
            done += os.write(fd, line[done:])
    except OSError:
        if done:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass  # the error being reported matters more than the fragment
        raise


def read_transcript(path: Path) -> list[dict[str, Any]]:
    """Every turn of a transcript file (for tests and tools); session records left out."""
    with Path(path).open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return [record for record in records if record.get("role") != "session"]
