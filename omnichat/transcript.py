"""The transcript of a session: one JSON object per turn, appended and flushed as it happens.

A line per finished turn (``Turn.to_record()``): ``role``, ``text``, ``timestamp`` (ISO 8601,
UTC) and, for assistant turns, ``interrupted`` plus ``heard``/``unheard`` when a barge-in cut
the reply, ``latency_ms`` and ``usage`` where known. Each line is flushed to the OS as soon as
it is written, so a crash or Ctrl+C loses nothing already said. The API key is never part of
a turn, so it can never reach this file.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import IO

from omnichat.engine.turns import Turn
from omnichat.errors import OmnichatError, UsageError


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
        # Opened now, so an unwritable path fails before the conversation (a permission
        # probe says yes to /proc or a full disk); removed at close if no turn was written.
        self._created = not self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] | None = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the transcript {self.path}: "
                             f"{exc.strerror or exc}; choose another path with --transcript"
                             ) from exc

    def write(self, turn: Turn) -> None:
        line = json.dumps(turn.to_record(), ensure_ascii=False) + "\n"
        with self._lock:
            if self._file is None:
                return
            try:
                self._file.write(line)
                self._file.flush()
            except OSError as exc:  # e.g. the disk filled up mid-conversation
                raise OmnichatError(f"cannot write the transcript {self.path}: "
                                    f"{exc.strerror or exc}") from exc
            self.turns_written += 1

    def close(self) -> None:
        """Idempotent. A transcript without a single turn is not left behind."""
        with self._lock:
            file, self._file = self._file, None
        if file is None:
            return
        file.close()
        if self._created and self.turns_written == 0:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> TranscriptWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_transcript(path: Path) -> list[dict]:
    """Every turn of a transcript file (for tests and tools)."""
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
