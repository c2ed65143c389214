"""A tiny terminal for the view tests: what a W×H screen shows after Rich's output, and what
scrolled off its top (the scrollback).

It understands what Rich's ``Live`` writes with ``color_system=None``: printable text, CR,
LF, cursor up/down (``CSI n A/B``), erase in line (``CSI n K``), erase below (``CSI J``) and
the cursor show/hide private modes (ignored), cursor home (``CSI H``) and erase screen /
scrollback (``CSI 2J`` / ``CSI 3J``). Anything else fails the test loudly, so a view that
starts writing other sequences is noticed instead of silently mis-drawn.

``resize`` re-wraps the screen the way tmux (and most terminals) do: rows the terminal wrapped
itself are joined and wrapped again at the new width, and rows that no longer fit above the
cursor go to the scrollback.
"""

from __future__ import annotations

import re

from rich.cells import cell_len

_CSI = re.compile(r"\x1b\[(\??)([0-9;]*)([A-Za-z])")


class Screen:
    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.rows = [[""] * width for _ in range(height)]
        self.wrapped = [False] * height  # the row goes on in the next one (a soft wrap)
        self.scrollback: list[str] = []
        self.row = self.col = 0

    def feed(self, data: str) -> None:
        pos = 0
        while pos < len(data):
            match = _CSI.match(data, pos)
            if match:
                self._csi(*match.groups())
                pos = match.end()
                continue
            self._char(data[pos])
            pos += 1

    def _csi(self, private: str, params: str, command: str) -> None:
        n = int(params or "0")
        if private:
            assert command in "hl", f"unexpected private mode ?{params}{command}"
        elif command == "A":
            self.row = max(0, self.row - max(1, n))
        elif command == "B":
            self.row = min(self.height - 1, self.row + max(1, n))
        elif command == "K":
            span = range(self.width) if n == 2 else (
                range(self.col) if n == 1 else range(self.col, self.width))
            for col in span:
                self.rows[self.row][col] = ""
        elif command == "J" and n == 3:
            self.scrollback.clear()
        elif command == "J" and n == 2:
            self.rows = [[""] * self.width for _ in range(self.height)]
            self.wrapped = [False] * self.height
        elif command == "J":
            for row in range(self.row + 1, self.height):
                self.rows[row] = [""] * self.width
        elif command == "H":
            self.row = self.col = 0
        elif command != "m":
            raise AssertionError(f"unexpected control sequence CSI {params}{command}")

    def _char(self, char: str) -> None:
        if char == "\r":
            self.col = 0
        elif char == "\n":
            self.col = 0
            self._line_feed()
        elif char == "\x1b" or (ord(char) < 32 and char != "\t"):
            raise AssertionError(f"unexpected control character {char!r}")
        else:
            cells = max(1, cell_len(char))
            if self.col + cells > self.width:  # pending wrap, as a real terminal does
                self.col = 0
                self.wrapped[self.row] = True
                self._line_feed()
            self.rows[self.row][self.col] = char
            for extra in range(1, cells):
                self.rows[self.row][self.col + extra] = "\0"  # the wide char's second cell
            self.col += cells

    def _line_feed(self) -> None:
        if self.row < self.height - 1:
            self.row += 1
            return
        self.scrollback.append(self._text(self.rows.pop(0)))
        self.wrapped.pop(0)
        self.rows.append([""] * self.width)
        self.wrapped.append(False)

    def resize(self, width: int, height: int) -> None:
        """The window changed size: re-wrap the rows at ``width`` (a soft-wrapped row is
        joined with the next first), keep the cursor on its character, and push what does not
        fit above it into the scrollback."""
        logical: list[list[str]] = [[]]
        cursor = (0, 0)
        for number, row in enumerate(self.rows):
            cells = row if self.wrapped[number] else self._trimmed(row)
            if number == self.row:
                cursor = (len(logical) - 1, len(logical[-1]) + self.col)
                cells = cells + [""] * max(0, self.col - len(cells))
            logical[-1].extend(cells)
            if not self.wrapped[number]:
                logical.append([])
        rows: list[list[str]] = []
        wrapped: list[bool] = []
        for index, cells in enumerate(logical):
            pieces = [cells[i:i + width] for i in range(0, len(cells), width)] or [[]]
            if index == cursor[0]:
                new_row, new_col = len(rows) + cursor[1] // width, cursor[1] % width
            rows.extend(piece + [""] * (width - len(piece)) for piece in pieces)
            wrapped.extend([True] * (len(pieces) - 1) + [False])
        rows, wrapped = rows[:max(new_row + 1, height)], wrapped[:max(new_row + 1, height)]
        while len(rows) > height:  # the top rows go to the scrollback
            self.scrollback.append(self._text(rows.pop(0)))
            wrapped.pop(0)
            new_row -= 1
        rows += [[""] * width for _ in range(height - len(rows))]
        wrapped += [False] * (height - len(wrapped))
        self.width, self.height, self.rows, self.wrapped = width, height, rows, wrapped
        self.row, self.col = new_row, new_col

    @staticmethod
    def _trimmed(row: list[str]) -> list[str]:
        end = len(row)
        while end and not row[end - 1]:
            end -= 1
        return row[:end]

    @staticmethod
    def _text(cells: list[str]) -> str:
        return "".join(c or " " for c in cells if c != "\0").rstrip()

    def write(self, data: str) -> int:  # a file for ``Console(file=...)``
        self.feed(data)
        return len(data)

    def flush(self) -> None:
        pass

    def lines(self) -> list[str]:
        """The screen's rows now, trailing blanks removed."""
        return [self._text(row) for row in self.rows]

    def history(self) -> list[str]:
        """Everything ever shown: the scrollback, then the screen (blank tail dropped)."""
        rows = self.scrollback + self.lines()
        while rows and not rows[-1]:
            rows.pop()
        return rows
