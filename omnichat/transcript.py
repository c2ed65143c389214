"""The transcript of a session: one JSON object per turn, appended and flushed as it happens.

A line per finished turn (``Turn.to_record()``): ``role``, ``text``, ``timestamp`` (ISO 8601,
UTC) and, for assistant turns, ``interrupted`` plus ``heard``/``unheard`` when a barge-in cut
the reply, ``latency_ms`` and ``usage`` where known. Each line is flushed to the OS as soon as
it is written, so a crash or Ctrl+C loses nothing already said. The API key is never part of
a turn, so it can never reach this file.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import IO

from omnichat.engine.turns import Turn
from omnichat.errors import UsageError


def session_path(directory: Path, started: datetime) -> Path:
    """A new file in ``directory`` named by the session's local start time."""
    stem = started.astimezone().strftime("%Y-%m-%dT%H-%M-%S")
    path = Path(directory) / f"{stem}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = Path(directory) / f"{stem}-{n}.jsonl"
    return path


class TranscriptWriter:
    """Appends turns to a JSONL file; safe to call from the receiver and the main thread."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.turns_written = 0
        self._lock = threading.Lock()  # keeps lines whole when two threads finish turns
        self._file: IO[str] | None = None  # opened by the first turn: no empty files
        self._closed = False
        try:  # fail before the conversation, not at its first turn
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(self.path.parent, os.W_OK) or self.path.is_dir():
                raise PermissionError(13, "not writable")
        except OSError as exc:
            raise UsageError(f"cannot write the transcript {self.path}: "
                             f"{exc.strerror or exc}; choose another path with --transcript"
                             ) from exc

    def write(self, turn: Turn) -> None:
        line = json.dumps(turn.to_record(), ensure_ascii=False) + "\n"
        with self._lock:
            if self._closed:
                return
            if self._file is None:
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()
            self.turns_written += 1

    def close(self) -> None:
        with self._lock:
            file, self._file = self._file, None
            self._closed = True
        if file is not None:
            file.close()

    def __enter__(self) -> "TranscriptWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_transcript(path: Path) -> list[dict]:
    """Every turn of a transcript file (for tests and tools)."""
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
