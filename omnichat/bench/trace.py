"""Reading the emulator's trace file (``omnichat serve --trace FILE``), as it grows.

Each line is ``{"t": monotonic s, "session": id, "dir": "in"|"out", "event": {...}}`` (see
``omnichat/emulator/trace.py``); ``"out"`` lines are stamped right after the frame was written
to the socket, so on loopback ``t`` is also the client's arrival time within a fraction of a ms.
Audio payloads are elided to ``"<N base64 chars>"``: their length gives the audio duration.

``TraceFollower`` owns a file handle; ``wait_for`` polls it every ``POLL_S`` until a matching
event appears or its deadline passes (the harness's only waiting primitive).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POLL_S = 0.02
MAX_LINE_CHARS = 1_000_000
_ELIDED = re.compile(r"<(\d+) base64 chars>")


@dataclass(frozen=True)
class TraceEvent:
    t: float
    session: str
    direction: str  # "in": from the client, "out": to the client
    type: str
    data: dict[str, Any] = field(repr=False)

    @property
    def audio_samples(self) -> int:
        """Samples (16-bit mono) in an elided ``response.audio.delta``; 0 otherwise."""
        match = _ELIDED.fullmatch(str(self.data.get("delta", "")))
        return int(match.group(1)) * 3 // 4 // 2 if match else 0

    @property
    def response_id(self) -> str | None:
        rid = self.data.get("response_id") or (self.data.get("response") or {}).get("id")
        return str(rid) if rid else None


def parse_line(line: str) -> TraceEvent | None:
    """A trace line as an event, or None for notes, raw frames and torn lines."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    event = obj.get("event") if isinstance(obj, dict) else None
    if not isinstance(event, dict):
        return None
    return TraceEvent(float(obj["t"]), str(obj.get("session", "")), str(obj.get("dir", "")),
                      str(event.get("type", "")), event)


class TraceFollower:
    """Reads the trace file incrementally; ``events`` holds everything read so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[TraceEvent] = []
        self._file: Any = None
        self._partial = ""

    def poll(self) -> None:
        if self._file is None:
            if not self.path.exists():
                return
            self._file = open(self.path, encoding="utf-8")  # noqa: SIM115 - closed by close()
        text = self._partial + self._file.read()
        lines = text.split("\n")
        self._partial = lines.pop()[:MAX_LINE_CHARS]
        self.events.extend(e for e in map(parse_line, lines) if e is not None)

    def wait_for(self, match: Callable[[TraceEvent], bool], timeout_s: float,
                 after: int = 0) -> tuple[int, TraceEvent] | None:
        """The first matching event at list index >= ``after``, waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            for i in range(after, len(self.events)):
                if match(self.events[i]):
                    return i, self.events[i]
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_S)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
