"""What ``omnichat history`` runs: list, show, rm, path (``cli.py`` only parses flags).

Warnings (a corrupt transcript line, a file that cannot be read) go to stderr, one line each;
the listing or the conversation goes to ``out``. An unknown id is a ``UsageError`` (exit 2)
raised before anything is printed or removed.
"""

from __future__ import annotations

import json
import sys
from typing import IO

from omnichat.errors import UsageError
from omnichat.history.records import Warn, iter_records
from omnichat.history.render import FORMATS, listing_lines, show_lines
from omnichat.history.store import ConversationStore
from omnichat.sanitize import clean_text


def warn_line(text: str) -> None:
    sys.stderr.write(f"omnichat: warning: {clean_text(text, keep_newlines=False)}\n")


def quiet(_line: str) -> None:
    """For a store whose conversation is read right after: that reading warns, once."""


def open_store(warn: Warn = warn_line) -> ConversationStore:
    """The conversations of the configured ``transcript_dir``."""
    from omnichat.config.settings import load_settings

    return ConversationStore(load_settings().transcript_dir, warn)


def list_history(*, as_json: bool = False, limit: int | None = None,
                 out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    store = open_store()
    conversations = store.conversations()[:limit] if limit else store.conversations()
    if as_json:
        rows = [{**c.summary.to_json(), "path": str(c.path)} for c in conversations]
        out.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    if not conversations:
        sys.stderr.write(f"no conversations yet in {store.directory}\n")
        return
    out.write("\n".join(listing_lines(conversations)) + "\n")


def show_history(ref: str, form: str = "text", out: IO[str] | None = None) -> None:
    if form not in FORMATS:
        raise UsageError(f"--format {form}: use one of {', '.join(FORMATS)}")
    out = out or sys.stdout
    conversation = open_store(quiet).find(ref)
    records = iter_records(conversation.path, warn_line)
    try:
        for line in show_lines(conversation, records, form):
            out.write(line + "\n")
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        raise UsageError(f"cannot read {conversation.path}: {exc.strerror or exc}") from exc


def remove_history(ref: str, out: IO[str] | None = None) -> None:
    removed = open_store(quiet).remove(ref)
    (out or sys.stdout).write(f"removed {removed.id} ({removed.path})\n")


def history_path(out: IO[str] | None = None) -> None:
    from omnichat.config.settings import load_settings

    (out or sys.stdout).write(f"{load_settings().transcript_dir}\n")
