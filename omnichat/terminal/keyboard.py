"""The keyboard during a session: raw key bytes -> ``Key`` values, and the terminal mode.

``KeyDecoder`` is pure: bytes in, keys out. It understands plain bytes (letters, Space, Enter,
Esc, Ctrl+C, Ctrl+D), the usual escape sequences for arrows, Home/End and Delete, and the kitty
keyboard protocol (``CSI code ; modifiers : event u``), which is what lets a terminal report a
key's *release* — push-to-talk needs that to tell "held" from "pressed once".

``TerminalMode`` owns the terminal while a session runs: cbreak (keys arrive one by one, not
echoed; Ctrl+C still raises SIGINT), plus the kitty protocol's "report event types" flag where
the terminal supports it. It restores everything on every exit path it can see: leaving the
``with`` block (a normal end, an exception, Ctrl+C, a SIGTERM turned into an exception),
Ctrl+Z (restored before the stop, re-entered on ``fg``), and interpreter exit.

``KeyReader`` is the thread ``omnichat-keys``: it owns stdin while the session runs, waits in
``select`` for at most ``POLL_S`` at a time (so ``stop()`` unblocks it within that), decodes and
hands each key to ``on_key``. It never touches the console.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

POLL_S = 0.05
ESC_TIMEOUT_S = 0.05  # a lone ESC with nothing after it this long is the Esc key
KITTY_FLAGS = 1 | 2  # disambiguate escape codes | report event types (press/repeat/release)

PRESS, REPEAT, RELEASE = "press", "repeat", "release"

_NAMED = {"\r": "enter", "\n": "enter", "\x1b": "esc", "\x7f": "backspace", "\x08": "backspace",
          "\t": "tab", " ": "space", "\x03": "ctrl+c", "\x04": "ctrl+d", "\x15": "ctrl+u"}
_CSI_FINAL = {"A": "up", "B": "down", "C": "right", "D": "left", "H": "home", "F": "end"}
_CSI_TILDE = {"1": "home", "3": "delete", "4": "end", "7": "home", "8": "end"}
_KITTY_CODES = {13: "enter", 27: "esc", 127: "backspace", 9: "tab", 32: "space",
                57441: "shift", 57442: "ctrl", 57443: "alt"}
_CSI = re.compile(r"\x1b\[([0-9:;?>]*)([A-Za-z~])")
_SS3 = re.compile(r"\x1bO([A-Za-z])")


@dataclass(frozen=True)
class Key:
    """One key event. ``name`` is a character ("q", "/") or a name ("space", "enter", "esc",
    "up", "ctrl+d"); ``event`` is press, repeat or release (release only with kitty)."""

    name: str
    event: str = PRESS
    ctrl: bool = False

    @property
    def text(self) -> str:
        """What the key types into a line editor ('' for keys that type nothing)."""
        if self.name == "space":
            return " "
        return self.name if len(self.name) == 1 and not self.ctrl else ""


class KeyDecoder:
    """Bytes from a terminal -> keys. Feed what ``read`` returned; call ``flush_escape`` when
    ``ESC_TIMEOUT_S`` passed with a lone ESC pending (that is the Esc key)."""

    def __init__(self) -> None:
        self._pending = ""
        self._utf8 = b""
        self.kitty_flags: int | None = None  # set by the terminal's answer to a flags query

    def feed(self, data: bytes) -> list[Key]:
        text = self._decode(data)
        self._pending += text
        keys: list[Key] = []
        while self._pending:
            key, used = self._next(self._pending)
            if used == 0:
                break  # an incomplete escape sequence: wait for more bytes
            self._pending = self._pending[used:]
            if key is not None:
                keys.append(key)
        return keys

    @property
    def escape_pending(self) -> bool:
        return self._pending == "\x1b"

    def flush_escape(self) -> list[Key]:
        if self._pending == "\x1b":
            self._pending = ""
            return [Key("esc")]
        return []

    def _decode(self, data: bytes) -> str:
        raw = self._utf8 + data
        try:
            text = raw.decode("utf-8")
            self._utf8 = b""
        except UnicodeDecodeError as exc:
            if exc.start >= len(raw) - 3 and exc.reason == "unexpected end of data":
                text, self._utf8 = raw[:exc.start].decode("utf-8", "replace"), raw[exc.start:]
            else:
                text, self._utf8 = raw.decode("utf-8", "replace"), b""
        return text

    def _next(self, text: str) -> tuple[Key | None, int]:
        if not text.startswith("\x1b"):
            char = text[0]
            return _plain_key(char), 1
        if len(text) == 1:
            return None, 0
        if text[1] == "[":
            match = _CSI.match(text)
            if match is None:
                return (None, 0) if len(text) < 32 else (None, 2)  # garbage: skip ESC [
            return self._csi(match.group(1), match.group(2)), match.end()
        if text[1] == "O":
            match = _SS3.match(text)
            if match is None:
                return (None, 0) if len(text) < 3 else (None, 2)
            return Key(_CSI_FINAL.get(match.group(1), "unknown")), match.end()
        return Key("esc"), 1  # ESC followed by a plain key: Esc, then that key

    def _csi(self, params: str, final: str) -> Key | None:
        if final == "u" and params.startswith("?"):  # answer to the kitty flags query
            self.kitty_flags = int(params[1:] or 0)
            return None
        if final == "u":
            return _kitty_key(params)
        if final in _CSI_FINAL:
            return Key(_CSI_FINAL[final], _kitty_event(params))
        if final == "~":
            return Key(_CSI_TILDE.get(params.split(";")[0], "unknown"), _kitty_event(params))
        return None  # other reports (cursor position, focus): not keys


def _plain_key(char: str) -> Key:
    if char in _NAMED:
        return Key(_NAMED[char], ctrl=_NAMED[char].startswith("ctrl+"))
    code = ord(char)
    if code < 32:
        return Key(f"ctrl+{chr(code + 96)}", ctrl=True)
    return Key(char)


def _kitty_event(params: str) -> str:
    """The event type in ``...;modifiers:event``: 1 press, 2 repeat, 3 release."""
    fields = params.split(";")
    if len(fields) < 2 or ":" not in fields[1]:
        return PRESS
    kind = fields[1].split(":")[1]
    return {"2": REPEAT, "3": RELEASE}.get(kind, PRESS)


def _kitty_key(params: str) -> Key | None:
    fields = params.split(";")
    try:
        code = int(fields[0].split(":")[0] or 0)
        modifiers = int((fields[1].split(":")[0] if len(fields) > 1 else "1") or 1) - 1
    except ValueError:
        return None
    ctrl = bool(modifiers & 4)
    event = _kitty_event(params)
    if code in _KITTY_CODES:
        return Key(_KITTY_CODES[code], event, ctrl)
    if ctrl and 97 <= code <= 122:
        return Key(f"ctrl+{chr(code)}", event, True)
    try:
        return Key(chr(code), event, ctrl)
    except (ValueError, OverflowError):
        return None


class TerminalMode:
    """cbreak + kitty "report event types" on ``stream`` while inside ``with``; restored on
    every exit, on Ctrl+Z (and re-entered on ``fg``) and at interpreter exit."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._fd = self._stdin.fileno()
        self._saved: list[Any] | None = None
        self._kitty_pushed = False
        self._suspended = False  # stopped by our own Ctrl+Z handler
        self._old_handlers: dict[int, Any] = {}
        self._lock = threading.Lock()  # enter/restore from the main thread and signal handlers

    def __enter__(self) -> TerminalMode:
        self._enter()
        if threading.current_thread() is threading.main_thread():
            for signum, handler in ((signal.SIGTSTP, self._on_stop),
                                    (signal.SIGCONT, self._on_continue)):
                self._old_handlers[signum] = signal.signal(signum, handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()
        self.restore()

    def _enter(self) -> None:
        import termios
        import tty

        with self._lock:
            if self._saved is None:
                self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd, termios.TCSANOW)
            # Push our flags, then ask which are in effect (``CSI ? u``): only a terminal
            # that speaks the protocol answers (KeyDecoder.kitty_flags); others ignore both.
            self._write(f"\x1b[>{KITTY_FLAGS}u\x1b[?u")
            self._kitty_pushed = True

    def restore(self) -> None:
        """Put the terminal back as it was. Idempotent; safe from a signal handler."""
        import termios

        with self._lock:
            if self._kitty_pushed:
                self._write("\x1b[<u")
                self._kitty_pushed = False
            if self._saved is not None:
                with contextlib.suppress(termios.error, OSError):
                    termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.restore()
        self._suspended = True
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stop for real; resumes in _on_continue

    def _on_continue(self, signum: int, frame: FrameType | None) -> None:
        """``fg`` after our Ctrl+Z: cbreak again. A SIGCONT we did not stop for (the kernel
        sends one with SIGHUP when the terminal hangs up) changes nothing, and a terminal
        that is gone must not raise here: that would cut the unwinding short."""
        import termios

        signal.signal(signal.SIGTSTP, self._on_stop)
        if not self._suspended:
            return
        self._suspended = False
        with contextlib.suppress(termios.error, OSError):
            self._enter()

    def _write(self, sequence: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stdout.write(sequence)
            self._stdout.flush()


class KeyReader:
    """Thread ``omnichat-keys``: reads stdin, decodes, calls ``on_key`` for each key.

    Blocks in ``select`` for at most POLL_S; ``stop()`` sets an Event it checks between waits,
    so it ends within POLL_S. End of input (stdin closed) is reported as ctrl+d.
    """

    def __init__(self, on_key: Callable[[Key], None], stdin: TextIO | None = None,
                 on_kitty_flags: Callable[[int], None] | None = None) -> None:
        self._on_key = on_key
        self._on_kitty_flags = on_kitty_flags  # the terminal answered the flags query
        self._fd = (stdin or sys.stdin).fileno()
        self._decoder = KeyDecoder()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_loop, name="omnichat-keys",
                                        daemon=True)

    def start(self) -> KeyReader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(POLL_S * 10)

    def __enter__(self) -> KeyReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def kitty_flags(self) -> int | None:
        return self._decoder.kitty_flags

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            known = self._decoder.kitty_flags
            for key in self._read_keys():
                self._on_key(key)
            flags = self._decoder.kitty_flags
            if flags is not None and flags != known and self._on_kitty_flags is not None:
                self._on_kitty_flags(flags)

    def _read_keys(self) -> Iterator[Key]:
        wait = ESC_TIMEOUT_S if self._decoder.escape_pending else POLL_S
        ready, _, _ = select.select([self._fd], [], [], wait)
        if not ready:
            yield from self._decoder.flush_escape()
            return
        try:
            data = os.read(self._fd, 1024)
        except OSError:  # EIO: the terminal hung up; SIGHUP follows and ends the session
            self._stop.set()
            return
        if not data:  # stdin closed: treat as Ctrl+D, once
            self._stop.set()
            yield Key("ctrl+d", ctrl=True)
            return
        yield from self._decoder.feed(data)
