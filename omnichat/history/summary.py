"""One conversation in one row: when, which model and voice, how long, tokens by kind.

``summarize`` reads a transcript once, streaming. Transcripts without session records
(written before they existed) still summarize: model, voice and region are then unknown
(None). ``Usage`` adds up the ``usage`` of every assistant turn by kind: the service reports
``text_tokens``, ``audio_tokens`` and, for pictures, ``image_tokens`` (the emulator says
``video_tokens``, as the service does for camera frames); all pictures count as "image".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omnichat.history.records import SESSION, TURN_ROLES, Warn, iter_records, text_of, timestamp

KINDS = ("text", "audio", "image")
_DETAIL_KIND = {"text_tokens": "text", "audio_tokens": "audio", "image_tokens": "image",
                "video_tokens": "image"}
FIRST_WORDS_CHARS = 48


@dataclass
class Usage:
    """Tokens in and out, in total and by kind (text, audio, image)."""

    tokens_in: int = 0
    tokens_out: int = 0
    by_kind_in: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    by_kind_out: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def add(self, usage: Any) -> None:
        if not isinstance(usage, Mapping):
            return
        self.tokens_in += _count(usage.get("input_tokens"))
        self.tokens_out += _count(usage.get("output_tokens"))
        _add_details(self.by_kind_in, usage.get("input_tokens_details"))
        _add_details(self.by_kind_out, usage.get("output_tokens_details"))

    def line(self) -> str:
        """``tokens 120 in (text 20, audio 100) / 40 out (text 10, audio 30)``."""
        return (f"tokens {self.tokens_in:,} in{_kinds(self.by_kind_in)} / "
                f"{self.tokens_out:,} out{_kinds(self.by_kind_out)}")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _add_details(into: dict[str, int], details: Any) -> None:
    if not isinstance(details, Mapping):
        return
    for name, kind in _DETAIL_KIND.items():
        into[kind] += _count(details.get(name))


def _kinds(by_kind: Mapping[str, int]) -> str:
    parts = [f"{kind} {by_kind[kind]:,}" for kind in KINDS if by_kind.get(kind)]
    return f" ({', '.join(parts)})" if parts else ""


def usage_of(records: Iterable[Mapping[str, Any]]) -> Usage:
    usage = Usage()
    for record in records:
        if record.get("role") == "assistant":
            usage.add(record.get("usage"))
    return usage


@dataclass
class Summary:
    """A conversation as ``omnichat history`` lists it (``--json`` prints these fields)."""

    id: str
    file: str
    started: str | None = None  # ISO 8601 as recorded (UTC): the first record
    last: str | None = None  # the last record: sorts the listing, picks --continue
    model: str | None = None  # from the newest session record; None: an older transcript
    voice: str | None = None
    region: str | None = None
    turns: int = 0
    duration_s: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_in_by_kind: dict[str, int] = field(default_factory=dict)
    tokens_out_by_kind: dict[str, int] = field(default_factory=dict)
    first_words: str = ""
    skipped_lines: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Summary | None:
        """A cached summary, or None when it does not have this version's shape (a damaged
        or hand-edited index is recomputed, never trusted)."""
        try:
            values = {name: data[name] for name in cls.__dataclass_fields__}
        except KeyError:
            return None
        for name, kinds in _FIELD_TYPES.items():
            value = values[name]
            if not isinstance(value, kinds) or isinstance(value, bool):
                return None
        for name in ("tokens_in_by_kind", "tokens_out_by_kind"):
            if not all(isinstance(k, str) and _count(v) == v for k, v in values[name].items()):
                return None
        return cls(**values)


_OPTIONAL_TEXT = (str, type(None))
_FIELD_TYPES: dict[str, Any] = {
    "id": str, "file": str, "started": _OPTIONAL_TEXT, "last": _OPTIONAL_TEXT,
    "model": _OPTIONAL_TEXT, "voice": _OPTIONAL_TEXT, "region": _OPTIONAL_TEXT, "turns": int,
    "duration_s": (int, float, type(None)), "tokens_in": int, "tokens_out": int,
    "tokens_in_by_kind": dict, "tokens_out_by_kind": dict, "first_words": str,
    "skipped_lines": int}


def summarize(path: Path, warn: Warn) -> Summary:
    """Read ``path`` once and condense it; bad lines are skipped (``warn`` says which)."""
    bad: list[str] = []

    def counted(line: str) -> None:
        bad.append(line)
        warn(line)

    summary = Summary(id=path.stem, file=path.name)
    usage = Usage()
    first = last = None
    for record in iter_records(path, counted):
        stamp = timestamp(record)
        if stamp is not None:
            first = first or stamp
            last = stamp
        role = record.get("role")
        if role == SESSION:
            _take_session(summary, record)
        elif role in TURN_ROLES:
            summary.turns += 1
            if role == "user" and not summary.first_words:
                summary.first_words = first_words(text_of(record))
            usage.add(record.get("usage"))
    summary.started = first.isoformat(timespec="milliseconds") if first else None
    summary.last = last.isoformat(timespec="milliseconds") if last else None
    summary.duration_s = round((last - first).total_seconds(), 1) if first and last else None
    summary.tokens_in, summary.tokens_out = usage.tokens_in, usage.tokens_out
    summary.tokens_in_by_kind, summary.tokens_out_by_kind = usage.by_kind_in, usage.by_kind_out
    summary.skipped_lines = len(bad)
    return summary


def _take_session(summary: Summary, record: Mapping[str, Any]) -> None:
    for name in ("model", "voice", "region"):
        value = record.get(name)
        if isinstance(value, str) and value:
            setattr(summary, name, value)


def first_words(text: str) -> str:
    """The start of what the user said, on one line, cut at a word with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= FIRST_WORDS_CHARS:
        return flat
    cut = flat.rfind(" ", 0, FIRST_WORDS_CHARS)
    return flat[:cut if cut > 0 else FIRST_WORDS_CHARS] + "…"
