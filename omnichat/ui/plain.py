"""Non-terminal output (a pipe, a file, a log): one timestamped line per event worth keeping.

No control sequence is ever written; server text is cleaned (``clean_text``) and notices
are cut to a readable length (``excerpt``). A reader that goes away (``| head -1``) does not
end the conversation: the lines stop, and the session still writes its files.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import IO

from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.sanitize import excerpt
from omnichat.ui.live import write_failed
from omnichat.ui.render import status_label
from omnichat.ui.state import ViewConfig, ViewState, clean, tool_outcome


class PlainView:
    """Writes ``[HH:MM:SS] text`` lines to ``stream`` as turns finish."""

    def __init__(self, stream: IO[str] | None = None, config: ViewConfig | None = None):
        self.stream = stream if stream is not None else sys.stdout
        self.state = ViewState(config=config or ViewConfig())
        self.reader_gone = False  # the pipe closed: nothing more is written

    def _say(self, text: str) -> None:
        if self.reader_gone:
            return
        stamp = datetime.now().strftime("%H:%M:%S")
        try:
            self.stream.write(f"[{stamp}] {text}\n")
            self.stream.flush()
        except BrokenPipeError:
            self.reader_gone = True
            silence(self.stream)
        except OSError as exc:
            raise write_failed(exc) from None

    def apply(self, update: up.Update) -> None:
        self.state.apply(update)
        self.state.take_printable()  # the plain view writes its own lines, below
        if isinstance(update, up.StatusChanged) and update.status == up.LISTENING:
            self._say(status_label(self.state))
        elif isinstance(update, up.Interrupted):
            self._say("interrupted: playback stopped")
        elif isinstance(update, up.ToolProgress):
            self._say(f"qwen: ⚙ {tool_outcome(update)}")
        elif isinstance(update, up.Notice):
            self._say(f"{update.level}: {excerpt(update.text)}")
        elif isinstance(update, up.MicMuted):
            self._say("microphone muted" if update.muted else "microphone on")
        elif isinstance(update, up.TurnFinished) and not (
                update.turn.tool_only and not update.turn.interrupted):
            self._say(turn_line(update.turn))  # a tool-only reply is its tool lines

    def refresh(self, mic_dbfs: float | None = None) -> None:
        self.state.mic_dbfs = mic_dbfs

    def close(self) -> None:
        pass


def silence(stream: IO[str]) -> None:
    """Point a stream whose reader went away at /dev/null, so what is still buffered or
    written later (the summary, the interpreter's last flush) cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, stream.fileno())
        finally:
            os.close(null)
    except (OSError, ValueError, AttributeError):  # a StringIO in tests: nothing to point
        pass


def turn_line(turn: Turn) -> str:
    """``you: ...`` or ``qwen: ...``; a cut reply says what was not heard, when anything was
    left unheard, and a turn without text says why."""
    if turn.role == "user":
        return f"you: {clean(turn.text) or _no_text(turn)}"
    line = f"qwen: {_reply(turn)}"
    extras = []
    if turn.latency_ms is not None:
        extras.append(f"latency {turn.latency_ms:.0f} ms")
    if turn.usage:
        extras.append(f"tokens {turn.usage.get('input_tokens') or 0} in / "
                      f"{turn.usage.get('output_tokens') or 0} out")
    return line + (f" ({', '.join(extras)})" if extras else "")


def _reply(turn: Turn) -> str:
    text = clean(turn.text)
    if not turn.interrupted:
        return text or "(no text)"
    heard, unheard = clean(turn.heard or ""), clean(turn.unheard or "")
    if unheard:
        return f"{heard + ' ' if heard else ''}[cut; not heard: {unheard}]"
    if heard:
        return f"{heard} [cut]"
    return "[cut before a word was said]"


def _no_text(turn: Turn) -> str:
    if turn.status == "transcription_failed":
        return "(speech; the transcription failed)"
    return "(speech; no transcription)"
