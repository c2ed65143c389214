"""``ConfirmPrompt``: a y/n question from a background thread, answered by a key.

A tool that must be confirmed runs on the tool runner's thread; the keyboard belongs to the
main thread. ``ask(text)`` shows the question (through ``show``, e.g. a Notice in the live
view) and blocks the asking thread until the key handler calls ``answer(True/False)``, the
prompt is closed, or ``timeout_s`` passes (then the answer is no). One question at a time:
a second ``ask`` waits for the first to be answered (``_turn`` lock).

The key handler asks ``pending`` whether a question is open before it treats ``y``/``n`` as
an answer, so those keys keep their usual meaning the rest of the time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

ASK_TIMEOUT_S = 60.0  # an unanswered question is a no: the tool call is refused


class ConfirmPrompt:
    """One open question at most; ``ask`` blocks, ``answer`` (any thread) unblocks it."""

    def __init__(self, show: Callable[[str], None] | None = None, *,
                 timeout_s: float = ASK_TIMEOUT_S) -> None:
        self._show = show
        self.timeout_s = timeout_s
        self._turn = threading.Lock()  # one question at a time; held while one is open
        self._cond = threading.Condition()  # guards _question/_answer; notified by answer
        self._question: str | None = None
        self._answer: bool | None = None
        self._closed = False

    @property
    def pending(self) -> str | None:
        """The open question, or None."""
        with self._cond:
            return self._question

    def ask(self, text: str) -> bool:
        """Show ``text`` and wait for y/n; False on timeout or when the prompt closes."""
        with self._turn:
            with self._cond:
                if self._closed:
                    return False
                self._question, self._answer = text, None
            if self._show is not None:
                self._show(f"{text} [y/n]")
            with self._cond:
                self._cond.wait_for(lambda: self._answer is not None or self._closed,
                                    timeout=self.timeout_s)
                answer, self._question = bool(self._answer), None
                return answer

    def answer(self, yes: bool) -> bool:
        """The key handler's y (True) or n (False); False if no question was open."""
        with self._cond:
            if self._question is None or self._answer is not None:
                return False
            self._answer = yes
            self._cond.notify_all()
            return True

    def close(self) -> None:
        """Refuse the open question and every later one (the session ends)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
