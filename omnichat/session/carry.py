"""What makes a session part of a longer story: ``--continue``/``--resume`` and ``--events``.

``Carry`` is resolved once, before a session opens anything (``resolve``): the conversation
to carry on (``omnichat.history.resume``) and the event sink (``omnichat.ui.events``). The
session then asks it, at each step, for what to add: the session record of the transcript,
the primed ``session.update``, the tool hooks for events, the view (earlier turns dimmed,
one line about the resumption, ``session.start``), and at the end the usage line and
``session.end``. Without the flags only the session record and the usage line remain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from omnichat.engine import updates as up
from omnichat.errors import UsageError
from omnichat.history.command import warn_line
from omnichat.history.records import session_record
from omnichat.history.resume import (
    EARLIER_SHOWN,
    Resumption,
    continuing_line,
    find_resumption,
    primed_session,
    settings_change,
)
from omnichat.history.summary import summarize
from omnichat.ui.earlier import show_earlier
from omnichat.ui.events import EventSink, EventTee, open_events, tool_hooks, tool_result_observer


@dataclass
class Carry:
    """The resolved ``--continue``/``--resume`` and ``--events`` of one session."""

    resumption: Resumption | None = None
    sink: EventSink | None = None

    @classmethod
    def resolve(cls, settings: Any, resume: str | None, events: str | None,
                transcript: Path | None) -> Carry:
        """Find the conversation and open the events; a bad one fails before anything runs."""
        resumption = None
        if resume is not None:
            if transcript is not None:
                raise UsageError("--transcript names a new file; --continue/--resume append "
                                 "to the earlier conversation's: give only one")
            resumption = find_resumption(settings.transcript_dir, resume, warn_line)
        return cls(resumption, open_events(events))

    def transcript_path(self) -> Path | None:
        return self.resumption.path if self.resumption is not None else None

    def session_record(self, settings: Any, path: Path) -> dict[str, Any]:
        return session_record(path.stem, model=settings.model, voice=settings.voice,
                              region=settings.region, modalities=list(settings.modalities),
                              resumed=self.resumption is not None)

    def session(self, payload: dict[str, Any], settings: Any) -> dict[str, Any]:
        if self.resumption is None:
            return payload
        return primed_session(payload, self.resumption.turns, settings.context_replay_turns,
                              settings.context_replay_chars)

    def tool_callbacks(self, callbacks: dict[str, Any], writer: Any,
                       engine: Callable[[], Any]) -> dict[str, Any]:
        if self.sink is None:
            return callbacks
        writer.observers.append(tool_result_observer(engine))
        return tool_hooks(callbacks, engine)

    def open_view(self, view: Any, settings: Any, path: Path) -> Any:
        """Earlier turns (dimmed), one line about the resumption; ``session.start``."""
        if self.resumption is not None:
            show_earlier(view, self.resumption.turns[-EARLIER_SHOWN:])
            view.apply(up.Notice(continuing_line(self.resumption), level="info"))
            change = settings_change(self.resumption, settings.model, settings.voice)
            if change:
                view.apply(up.Notice(change, level="info"))
        if self.sink is None:
            return view
        self.sink.emit("session.start", conversation=path.stem, transcript=str(path),
                       model=settings.model, voice=settings.voice, region=settings.region,
                       modalities=list(settings.modalities),
                       resumed=self.resumption is not None)
        return EventTee(view, self.sink)

    def finish(self, out: IO[str], path: Path | None, error: BaseException | None) -> None:
        """The conversation's token totals by kind; ``session.end`` with the summary."""
        summary = None
        if path is not None and path.is_file():
            summary = summarize(path, lambda _line: None)
            out.write(f"conversation {summary.id}: {summary_usage(summary)}\n")
        if self.sink is None:
            return
        fields: dict[str, Any] = {"error": _reason(error)}
        if summary is not None:
            fields.update(conversation=summary.id, transcript=str(path), turns=summary.turns,
                          tokens_in=summary.tokens_in, tokens_out=summary.tokens_out,
                          tokens_in_by_kind=summary.tokens_in_by_kind,
                          tokens_out_by_kind=summary.tokens_out_by_kind)
        self.sink.emit("session.end", **fields)
        self.sink.close()


def _reason(error: BaseException | None) -> str | None:
    """Why the session ended early, as ``session.end`` says it (None: it did not)."""
    if error is None:
        return None
    if isinstance(error, KeyboardInterrupt):
        return str(error) or "interrupted"  # Ctrl+C; SIGTERM/SIGHUP say which
    return str(error) or type(error).__name__


def summary_usage(summary: Any) -> str:
    from omnichat.history.summary import Usage

    usage = Usage(summary.tokens_in, summary.tokens_out, dict(summary.tokens_in_by_kind),
                  dict(summary.tokens_out_by_kind))
    return usage.line()
