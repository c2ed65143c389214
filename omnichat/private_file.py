"""Files that hold what the user said (transcripts, recorded audio): private and never special.

Folders omnichat creates for them are 0700 and the files 0600, like the config file. A path
that names something other than a regular file (a FIFO, a device node, a socket) is never
opened in a way that blocks and never renamed over: ``special_file`` tells the caller so it
can refuse it or write to it in place.

Missing folders are created only inside the user's own places: the home directory, the
current directory or the temporary directory. A path elsewhere whose folder does not exist
(``--output /nonexistent/a.wav``) is refused with one line instead of creating folders where
the user did not mean to (as root, anywhere).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents as 0700 (existing ones are left alone);
    FileNotFoundError when they would be outside the user's own places (module docstring)."""
    directory = Path(directory)
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    if missing and not _users_own(directory):
        raise FileNotFoundError(errno.ENOENT, f"the folder {missing[-1]} does not exist "
                                "(omnichat creates folders only under your home, the current "
                                "or the temporary directory: create it first)")
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # created meanwhile by someone else: theirs to keep
            pass
        else:
            os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask


def _users_own(existing: Path) -> bool:
    """``existing`` is in the home, current or temporary directory (or is one of them)."""
    try:
        where = existing.resolve()
        places = [Path.home(), Path.cwd(), Path(tempfile.gettempdir())]
    except (OSError, RuntimeError):
        return False
    return any(where == place.resolve() or place.resolve() in where.parents
               for place in places)


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
