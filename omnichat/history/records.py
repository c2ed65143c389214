"""Reading a transcript back: one record per valid line, in order; the rest skipped and said.

A transcript is written by ``omnichat.transcript`` (and by earlier versions, which had no
``"role": "session"`` records). A line that is not a JSON object with a string ``role``, or
that is longer than ``MAX_LINE_BYTES``, is skipped: ``warn`` gets one line naming the file
and the line number, never a traceback. Reading streams the file (no whole-file copy).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importing omnichat.engine loads the whole engine: only ``resume`` needs it
    from omnichat.engine.turns import Turn

MAX_LINE_BYTES = 1 << 20  # the writer cuts tool text at 2,000 characters; turns are short
SESSION = "session"
TURN_ROLES = ("user", "assistant")

Warn = Callable[[str], None]


def iter_records(path: Path, warn: Warn) -> Iterator[dict[str, Any]]:
    """The valid records of ``path``, in order; each bad line is reported through ``warn``."""
    with Path(path).open("rb") as handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES:  # skip the rest of an overlong line
                while raw and not raw.endswith(b"\n"):
                    raw = handle.readline(MAX_LINE_BYTES + 1)
                warn(f"{path.name} line {number} is longer than {MAX_LINE_BYTES} bytes; "
                     "skipped")
                continue
            if not raw.strip():
                continue
            record = _decode(raw)
            if record is None:
                warn(f"{path.name} line {number} is not a transcript record; skipped")
                continue
            yield record


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("role"), str):
        return None
    if not isinstance(record.get("text", ""), str):
        return None
    return record


def timestamp(record: Mapping[str, Any]) -> datetime | None:
    """The record's ``timestamp`` as an aware datetime (UTC if it named no zone), or None."""
    value = record.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=timezone.utc)


def text_of(record: Mapping[str, Any], name: str = "text") -> str:
    value = record.get(name)
    return value if isinstance(value, str) else ""


def to_turn(record: dict[str, Any]) -> Turn | None:
    """A user or assistant record as a ``Turn`` (for the context of a resumed session)."""
    from omnichat.engine.turns import Turn

    role = record.get("role")
    if role not in TURN_ROLES:
        return None
    interrupted = record.get("interrupted") is True
    return Turn(role=str(role), text=text_of(record),
                started_at=timestamp(record) or datetime.now(timezone.utc),
                interrupted=interrupted,
                heard=text_of(record, "heard") if interrupted else None,
                unheard=text_of(record, "unheard") if interrupted else None)


def session_record(conversation: str, *, model: str, voice: str, region: str,
                   modalities: list[str], resumed: bool) -> dict[str, Any]:
    """The ``"role": "session"`` line written before a session's first turn."""
    from omnichat import __version__

    return {"role": SESSION, "text": "",
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "conversation": conversation, "model": model, "voice": voice, "region": region,
            "modalities": list(modalities), "resumed": resumed,
            "client": f"omnichat {__version__}"}
