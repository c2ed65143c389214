"""``omnichat history`` on screen or into a file: the listing, and one conversation as
text, Markdown or JSONL. Every piece of transcript text is cleaned (``clean_text``) before
it is printed in text or Markdown (it came from the service); JSONL is re-encoded with the
transcript's own escaping, so it stays safe to ``cat``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from omnichat.history.records import SESSION, text_of, timestamp
from omnichat.history.store import Conversation
from omnichat.history.summary import Summary, Usage, usage_of
from omnichat.sanitize import clean_text

FORMATS = ("text", "md", "jsonl")
_COLUMNS = ("ID", "STARTED", "MODEL", "VOICE", "TURNS", "TIME", "TOKENS IN/OUT", "FIRST WORDS")


def listing_lines(conversations: Iterable[Conversation]) -> list[str]:
    """The table of ``omnichat history``: a header, one row per conversation, and the
    tokens of all of them by kind."""
    listed = list(conversations)
    rows = [list(_COLUMNS)] + [_row(c.summary) for c in listed]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    total = Usage()
    for conversation in listed:
        summary = conversation.summary
        total.tokens_in += summary.tokens_in
        total.tokens_out += summary.tokens_out
        for kind, into in ((summary.tokens_in_by_kind, total.by_kind_in),
                           (summary.tokens_out_by_kind, total.by_kind_out)):
            for name, count in kind.items():
                into[name] = into.get(name, 0) + count
    lines.append(f"{len(listed)} conversation{'' if len(listed) == 1 else 's'}: "
                 f"{total.line()}")
    return lines


def _row(summary: Summary) -> list[str]:
    return [summary.id, _local(summary.started, "%Y-%m-%d %H:%M"), summary.model or "-",
            summary.voice or "-", str(summary.turns), _duration(summary.duration_s),
            f"{summary.tokens_in:,} / {summary.tokens_out:,}",
            clean_text(summary.first_words, keep_newlines=False)]


def _local(iso: str | None, form: str) -> str:
    if not iso:
        return "-"
    try:
        return datetime.fromisoformat(iso).astimezone().strftime(form)
    except ValueError:
        return "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def show_lines(conversation: Conversation, records: Iterable[Mapping[str, Any]],
               form: str) -> Iterator[str]:
    """One conversation in ``form`` (text | md | jsonl), line by line (no trailing newline)."""
    if form == "jsonl":
        from omnichat.transcript import encode_record

        for record in records:
            yield encode_record(dict(record)).decode().rstrip("\n")
        return
    kept: list[Mapping[str, Any]] = []
    summary = conversation.summary
    md = form == "md"
    yield f"# Conversation {summary.id}" if md else f"conversation {summary.id}"
    yield (_session_line(summary.started, summary.model, summary.voice, md))
    if md:
        yield ""
    sessions = 0
    for record in records:
        if record.get("role") == SESSION:
            sessions += 1
            if sessions > 1:  # the first is the header above
                line = _session_line(text_of(record, "timestamp"), record.get("model"),
                                     record.get("voice"), md, resumed=True)
                yield from ([line, ""] if md else [line])
            continue
        kept.append(record)
        yield from _turn_lines(record, md)
    yield (f"*{_usage_line(usage_of(kept))}*" if md else _usage_line(usage_of(kept)))


def _session_line(started: str | None, model: Any, voice: Any, md: bool,
                  resumed: bool = False) -> str:
    parts = [("resumed " if resumed else "started ") + _local(started, "%Y-%m-%d %H:%M:%S")]
    if isinstance(model, str) and model:
        parts.append(f"model {clean_text(model, keep_newlines=False)}")
    if isinstance(voice, str) and voice:
        parts.append(f"voice {clean_text(voice, keep_newlines=False)}")
    line = " · ".join(parts)
    return f"_{line}_" if md else f"-- {line} --"


def _usage_line(usage: Usage) -> str:
    return usage.line()


def _turn_lines(record: Mapping[str, Any], md: bool) -> list[str]:
    stamp = timestamp(record)
    when = stamp.astimezone().strftime("%H:%M:%S") if stamp else "--:--:--"
    role = record.get("role")
    if role == "assistant":
        who, said = "qwen", _reply(record, md)
    elif role == "user":
        who, said = "you", _one_line(text_of(record)) or "(speech; no transcription)"
    else:
        who, said = str(role), _one_line(text_of(record))
    if md:
        return [f"**{who}** ({when}): {said}", ""]
    return [f"[{when}] {who}: {said}"]


def _reply(record: Mapping[str, Any], md: bool) -> str:
    """The reply; an interrupted one marks what was generated but never heard."""
    if record.get("interrupted") is not True:
        return _one_line(text_of(record)) or "(no text)"
    heard, unheard = _one_line(text_of(record, "heard")), _one_line(text_of(record, "unheard"))
    if not unheard:
        return f"{heard} [cut]" if heard else "[cut before a word was said]"
    mark = f"~~{unheard}~~ (not heard)" if md else f"[not heard: {unheard}]"
    return f"{heard} {mark}" if heard else mark


def _one_line(text: str) -> str:
    return " ".join(clean_text(text, keep_newlines=False).split())
