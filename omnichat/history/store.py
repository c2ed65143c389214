"""The conversations of one folder (``transcript_dir``): list them fast, find one by id.

A conversation's id is its transcript's file name without ``.jsonl`` (the local start time,
e.g. ``2026-11-26T11-40-07``). Listing a thousand conversations must not read a thousand
files: ``INDEX_NAME`` in the same folder caches each file's ``Summary`` under its size and
modification time. An entry that is missing, stale (the file grew, e.g. a resumed
conversation) or unreadable is recomputed from the file; an index that is missing, corrupt,
too large or from another version is ignored and rewritten. Writing it is best-effort (a
read-only folder still lists) and atomic (a temporary file renamed over it), so two
omnichat processes can never leave half an index.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnichat.errors import UsageError
from omnichat.history.records import Warn
from omnichat.history.summary import Summary, summarize
from omnichat.private_file import FILE_MODE

INDEX_NAME = ".history-index.json"
INDEX_VERSION = 1
MAX_INDEX_BYTES = 32 << 20
SUFFIX = ".jsonl"


@dataclass(frozen=True)
class Conversation:
    """A transcript file and its summary."""

    path: Path
    summary: Summary

    @property
    def id(self) -> str:
        return self.summary.id


class ConversationStore:
    """The conversations in ``directory``; bad transcript lines are reported via ``warn``."""

    def __init__(self, directory: Path, warn: Warn):
        self.directory = Path(directory)
        self.warn = warn
        self.recomputed = 0  # files read whole by the last ``conversations()`` (benchmarks)

    def conversations(self) -> list[Conversation]:
        """Every conversation, the most recently active first."""
        cache = self._load_index()
        fresh: dict[str, Any] = {}
        found: list[Conversation] = []
        self.recomputed = 0
        for path, size, mtime_ns in self._files():
            entry = cache.get(path.name)
            summary = None
            if isinstance(entry, dict) and entry.get("size") == size \
                    and entry.get("mtime_ns") == mtime_ns:
                summary = Summary.from_json(entry.get("summary") or {})
            if summary is None:
                summary = self._summarize(path)
                if summary is None:
                    continue
                self.recomputed += 1
            fresh[path.name] = {"size": size, "mtime_ns": mtime_ns,
                                "summary": summary.to_json()}
            found.append(Conversation(path, summary))
        if fresh != cache:
            self._save_index(fresh)
        found.sort(key=lambda c: (c.summary.last or "", c.id), reverse=True)
        return found

    def find(self, ref: str) -> Conversation:
        """``last``, an id, or the start of exactly one id; else one clear error (exit 2)."""
        conversations = self.conversations()
        if ref == "last":
            if not conversations:
                raise UsageError(f"no conversations yet in {self.directory}")
            return conversations[0]
        matches = [c for c in conversations if c.id == ref]
        if not matches and ref:
            matches = [c for c in conversations if c.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            some = ", ".join(c.id for c in matches[:3])
            raise UsageError(f"'{ref}' matches {len(matches)} conversations ({some}, ...); "
                             "give more of the id")
        raise UsageError(f"no conversation '{ref}' in {self.directory}; "
                         "'omnichat history' lists them")

    def remove(self, ref: str) -> Conversation:
        conversation = self.find(ref)
        try:
            conversation.path.unlink()
        except OSError as exc:
            raise UsageError(f"cannot remove {conversation.path}: "
                             f"{exc.strerror or exc}") from exc
        return conversation

    # ---- files and the index ----------------------------------------------------------

    def _files(self) -> list[tuple[Path, int, int]]:
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise UsageError(f"cannot read {self.directory}: {exc.strerror or exc}") from exc
        files = []
        for entry in entries:
            if not entry.name.endswith(SUFFIX) or entry.name.startswith("."):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except OSError:
                continue  # removed while listing
            files.append((Path(entry.path), stat.st_size, stat.st_mtime_ns))
        return files

    def _summarize(self, path: Path) -> Summary | None:
        try:
            summary = summarize(path, self.warn)
        except OSError as exc:
            self.warn(f"cannot read {path.name}: {exc.strerror or exc}; skipped")
            return None
        return summary if summary.turns or summary.started else None

    def _load_index(self) -> dict[str, Any]:
        path = self.directory / INDEX_NAME
        try:
            if path.stat().st_size > MAX_INDEX_BYTES:
                return {}
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
            return {}
        entries = data.get("files")
        return entries if isinstance(entries, dict) else {}

    def _save_index(self, entries: dict[str, Any]) -> None:
        if not self.directory.is_dir():
            return
        data = json.dumps({"version": INDEX_VERSION, "files": entries}, ensure_ascii=False)
        try:
            fd, tmp = tempfile.mkstemp(prefix=".history-index-", dir=self.directory)
        except OSError:
            return  # a read-only folder: list without caching
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, self.directory / INDEX_NAME)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
