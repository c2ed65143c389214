"""The one-line warning for a config file other users can read.

The API key is never read from the file, but what is in it (instructions that describe the
user, device names, the transcript folder) may still be private, and ``config init`` creates
it 0600. A file that has become group- or world-readable (copied, edited with a loose umask)
gets one line on stderr at the start of a conversation; it is not an error.
"""

from __future__ import annotations

import stat
from pathlib import Path


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
