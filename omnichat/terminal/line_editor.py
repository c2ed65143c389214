"""The one-line editor for typed messages: keys in, the line being typed and the sent line out.

Pure (no terminal I/O): ``KeyReader`` delivers keys, the session hands them to ``feed``
while the editor is open, and the live view draws ``text``/``cursor``. Left/Right/Home/End
move, Backspace/Delete erase, Ctrl+U clears, Up/Down walk the history (bounded), Enter
submits, Esc cancels. Text longer than ``MAX_CHARS`` is not accepted (typed text is a
conversation item: the service has its own limits, and a pasted novel is a mistake).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from omnichat.terminal.keyboard import RELEASE, Key

MAX_CHARS = 4000
HISTORY = 100


@dataclass(frozen=True)
class Submitted:
    text: str


@dataclass(frozen=True)
class Cancelled:
    pass


class LineEditor:
    """One line with a cursor and a history of submitted lines."""

    def __init__(self) -> None:
        self.text = ""
        self.cursor = 0
        self._history: deque[str] = deque(maxlen=HISTORY)
        self._browse: int | None = None  # index into history while walking it
        self._draft = ""

    def feed(self, key: Key) -> Submitted | Cancelled | None:
        """Apply one key; a finished line (or a cancel) is returned, else None."""
        if key.event == RELEASE:
            return None
        if key.name == "enter":
            return self._submit()
        if key.name == "esc":
            self._reset()
            return Cancelled()
        handler = _EDITS.get(key.name)
        if handler is not None:
            handler(self)
        elif key.text and len(self.text) < MAX_CHARS:
            self.text = self.text[:self.cursor] + key.text + self.text[self.cursor:]
            self.cursor += len(key.text)
        return None

    def _submit(self) -> Submitted | None:
        line = self.text.strip()
        self._reset()
        if not line:
            return None
        if not self._history or self._history[-1] != line:
            self._history.append(line)
        return Submitted(line)

    def _reset(self) -> None:
        self.text, self.cursor, self._browse, self._draft = "", 0, None, ""

    def _left(self) -> None:
        self.cursor = max(0, self.cursor - 1)

    def _right(self) -> None:
        self.cursor = min(len(self.text), self.cursor + 1)

    def _home(self) -> None:
        self.cursor = 0

    def _end(self) -> None:
        self.cursor = len(self.text)

    def _backspace(self) -> None:
        if self.cursor > 0:
            self.text = self.text[:self.cursor - 1] + self.text[self.cursor:]
            self.cursor -= 1

    def _delete(self) -> None:
        self.text = self.text[:self.cursor] + self.text[self.cursor + 1:]

    def _clear(self) -> None:
        self.text, self.cursor = "", 0

    def _up(self) -> None:
        if not self._history:
            return
        if self._browse is None:
            self._draft, self._browse = self.text, len(self._history)
        self._browse = max(0, self._browse - 1)
        self._show(self._history[self._browse])

    def _down(self) -> None:
        if self._browse is None:
            return
        self._browse += 1
        if self._browse >= len(self._history):
            self._browse = None
            self._show(self._draft)
        else:
            self._show(self._history[self._browse])

    def _show(self, text: str) -> None:
        self.text, self.cursor = text, len(text)


_EDITS = {"left": LineEditor._left, "right": LineEditor._right, "home": LineEditor._home,
          "end": LineEditor._end, "backspace": LineEditor._backspace,
          "delete": LineEditor._delete, "ctrl+u": LineEditor._clear, "up": LineEditor._up,
          "down": LineEditor._down}
