"""One-line warnings at the start of a conversation: none of them stops it.

A config file other users can read; a voice the model's (unverified) list does not name; a
model that needs a workspace endpoint when none is set (docs/qwen38.md).

The API key is never read from the file, but what is in it (instructions that describe the
user, device names, the transcript folder) may still be private, and ``config init`` creates
it 0600. A file that has become group- or world-readable (copied, edited with a loose umask)
gets one line on stderr at the start of a conversation; it is not an error.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING

from omnichat.catalog import MODELS

if TYPE_CHECKING:
    from omnichat.config.settings import Settings


def readable_by_others(path: Path | None) -> str | None:
    """The warning for ``path`` when its group or others may read it, else None."""
    if path is None:
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # gone or unreadable: loading it already said so
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    who = "every user" if mode & stat.S_IROTH else "its group"
    return (f"config file {path} is readable by {who} (mode {stat.S_IMODE(mode):04o}); it "
            f"holds no API key, but its settings may be private: chmod 600 {path}")


def voice_warning(settings: Settings) -> str | None:
    """A voice the model does not list, where its list is not verified (the service then
    fails only when it speaks: ``Voice 'X' is not supported.``)."""
    model = MODELS.get(settings.model)
    if model is None or model.accepts_voice(settings.voice):
        return None
    return (f"voice '{settings.voice}' is not in the list for {model.name}; the service "
            f"may refuse it when it first speaks; see `omnichat voices -m {model.name}`")


def workspace_hint(settings: Settings) -> str | None:
    """The model needs the workspace endpoint and no workspace is set."""
    model = MODELS.get(settings.model)
    if model is None or not model.needs_workspace or settings.workspace:
        return None
    return (f"{model.name} is reportedly served only on a workspace endpoint: set "
            f"workspace = \"llm-...\" in the config file, OMNICHAT_WORKSPACE or "
            f"--workspace (the id is in the Model Studio console)")
