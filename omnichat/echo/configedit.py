"""Write ``[audio] echo_mode`` into the config file, keeping everything else as it was.

A minimal line edit (the file's comments and layout stay), checked by parsing the result
with ``tomllib`` before an atomic replace; a file that does not parse is left untouched.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

from omnichat.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_TABLE = re.compile(r"^\s*\[\s*audio\s*\]\s*(#.*)?$")
_ANY_TABLE = re.compile(r"^\s*\[")
_KEY = re.compile(r"^\s*echo_mode\s*=")


def set_echo_mode_text(text: str, mode: str) -> str:
    """``text`` with ``[audio] echo_mode = "<mode>"`` set (added or replaced)."""
    lines = text.splitlines(keepends=True)
    new = f'echo_mode = "{mode}"\n'
    start = next((i for i, ln in enumerate(lines) if _TABLE.match(ln)), None)
    if start is None:
        if not text.strip():
            return f"[audio]\n{new}"
        return f"{text.rstrip(chr(10))}\n\n[audio]\n{new}"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_TABLE.match(lines[i])),
               len(lines))
    for i in range(start + 1, end):
        if _KEY.match(lines[i]):
            lines[i] = new
            return "".join(lines)
    if not lines[start].endswith("\n"):
        lines[start] += "\n"
    lines.insert(start + 1, new)
    return "".join(lines)


def save_echo_mode(path: Path, mode: str) -> None:
    """Set ``[audio] echo_mode`` in ``path`` (created 0600 if missing), atomically."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot update {path}: {exc}; fix the file or set "
                          f"[audio] echo_mode = \"{mode}\" by hand") from exc
    updated = set_echo_mode_text(text, mode)
    try:
        if tomllib.loads(updated).get("audio", {}).get("echo_mode") != mode:
            raise ValueError("the edit did not take")
    except (tomllib.TOMLDecodeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"cannot safely edit {path} ({exc}); set [audio] echo_mode = "
                          f"\"{mode}\" by hand") from exc
    _write_atomically(path, updated)


def _write_atomically(path: Path, text: str) -> None:
    """mkstemp makes the file 0600; the rename shows readers the old or the whole new file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temp, path.stat().st_mode & 0o777)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
