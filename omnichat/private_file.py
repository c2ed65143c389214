"""Files that hold what the user said (transcripts, recorded audio): private and never special.

Folders omnichat creates for them are 0700 and the files 0600, like the config file. A path
that names something other than a regular file (a FIFO, a device node, a socket) is never
opened in a way that blocks and never renamed over: ``special_file`` tells the caller so it
can refuse it or write to it in place.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents as 0700 (existing ones are left alone)."""
    directory = Path(directory)
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # created meanwhile by someone else: theirs to keep
            pass
        else:
            os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask


def special_file(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file or folder ("a FIFO"...)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return describe_mode(mode)


def describe_mode(mode: int) -> str | None:
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"
