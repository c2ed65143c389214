"""What the user sees: a Rich live view on a terminal, plain timestamped lines otherwise.

Both views consume the engine's updates on the main thread only (the only thread that
touches the console). A terminal that hangs up (EIO) ends the session as SIGHUP does.
``ViewState`` is the pure model; ``render_live`` turns it into Rich
renderables (testable into a ``StringIO`` console); ``LiveView`` redraws it in place with
``Live(auto_refresh=False)`` — no refresh thread — and ``PlainView`` prints one line per
finished turn, without any control sequence. All server text goes through ``clean_text``
(escape sequences, control and bidi characters removed); notices, which quote server error
text, are also cut to a readable length with ``excerpt``.
"""

from __future__ import annotations

import errno
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from omnichat import signals
from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.sanitize import clean_text, excerpt

METER_CELLS = 12
METER_FLOOR_DBFS = -60.0
CUT_MARK = " ✂ "
_STATUS_STYLE = {up.CONNECTING: "yellow", up.LISTENING: "green", up.HEARING: "bold cyan",
                 up.THINKING: "magenta", up.SPEAKING: "bold blue", up.INTERRUPTED: "bold red",
                 up.RECONNECTING: "yellow", up.CLOSED: "dim"}


def _clean(text: str) -> str:
    return clean_text(text, keep_newlines=False)


@dataclass
class Line:
    """One entry of the conversation as shown (text is already clean)."""

    role: str
    text: str = ""
    response_id: str | None = None
    cut: int | None = None  # where a barge-in cut the reply (chars of ``text``)
    latency_ms: float | None = None
    usage: dict[str, Any] | None = None
    final: bool = False


@dataclass
class ViewState:
    """The conversation and the status bar, built from engine updates."""

    lines: list[Line] = field(default_factory=list)
    status: str = up.CONNECTING
    preview: str = ""  # what the user is saying, before the transcription is final
    mic_dbfs: float | None = None
    last_latency_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    notices: list[str] = field(default_factory=list)

    def _assistant(self, response_id: str | None) -> Line:
        for line in reversed(self.lines):
            if line.role == "assistant" and line.response_id == response_id:
                return line
        line = Line("assistant", response_id=response_id)
        self.lines.append(line)
        return line

    def apply(self, update: up.Update) -> None:
        if isinstance(update, up.StatusChanged):
            self.status = update.status
        elif isinstance(update, up.UserPreview):
            self.preview = _clean(update.text)
        elif isinstance(update, up.AssistantStarted):
            self._assistant(update.response_id)
        elif isinstance(update, up.AssistantDelta):
            line = self._assistant(update.response_id)
            line.text += _clean(update.text)
        elif isinstance(update, up.Interrupted):
            self._assistant(update.response_id).cut = update.heard_chars
        elif isinstance(update, up.LatencyMeasured):
            self._assistant(update.response_id).latency_ms = update.latency_ms
            self.last_latency_ms = update.latency_ms
        elif isinstance(update, up.UsageReported):
            self._assistant(update.response_id).usage = update.usage
        elif isinstance(update, up.TurnFinished):
            self._finish(update.turn)
        elif isinstance(update, up.Notice):
            self.notices.append(excerpt(update.text))

    def _finish(self, turn: Turn) -> None:
        if turn.role == "user":
            self.preview = ""
            # Keep the user line before the reply it triggered when the transcription is late.
            line = Line("user", _clean(turn.text) or "…", final=True)
            index = len(self.lines)
            while index and not self.lines[index - 1].final and \
                    self.lines[index - 1].role == "assistant":
                index -= 1
            self.lines.insert(index, line)
            return
        line = self._assistant(turn.response_id)
        line.text, line.final = _clean(turn.text), True
        if turn.interrupted:
            line.cut = len(_clean(turn.heard or ""))
        if turn.latency_ms is not None:
            line.latency_ms = turn.latency_ms
            self.last_latency_ms = turn.latency_ms
        if turn.usage:
            line.usage = turn.usage
            self.tokens_in += int(turn.usage.get("input_tokens") or 0)
            self.tokens_out += int(turn.usage.get("output_tokens") or 0)


# ---- rendering ------------------------------------------------------------------------------


def meter(dbfs: float | None, cells: int = METER_CELLS) -> str:
    """A text level meter: ``▮`` per lit cell over METER_FLOOR_DBFS..0 dBFS."""
    if dbfs is None:
        return "·" * cells
    lit = round(cells * (max(METER_FLOOR_DBFS, min(0.0, dbfs)) - METER_FLOOR_DBFS)
                / -METER_FLOOR_DBFS)
    return "▮" * lit + "·" * (cells - lit)


def line_text(line: Line) -> Text:
    """One conversation line: ``you: ...`` or ``qwen: ...`` with the unheard part struck."""
    if line.role == "user":
        text = Text("you  ", style="bold cyan")
        text.append(line.text)
        return text
    text = Text("qwen ", style="bold blue")
    if line.cut is not None:
        text.append(line.text[:line.cut].rstrip())
        text.append(CUT_MARK, style="bold red")
        text.append(line.text[line.cut:].lstrip(), style="dim strike")
    else:
        text.append(line.text)
    if line.latency_ms is not None:
        text.append(f"  ({line.latency_ms:.0f} ms)", style="dim")
    return text


def status_text(state: ViewState) -> Text:
    text = Text("● ", style=_STATUS_STYLE.get(state.status, ""))
    text.append(f"{state.status:<12}", style=_STATUS_STYLE.get(state.status, ""))
    text.append(" mic ")
    text.append(meter(state.mic_dbfs), style="green")
    if state.last_latency_ms is not None:
        text.append(f"  latency {state.last_latency_ms:.0f} ms")
    if state.tokens_in or state.tokens_out:
        text.append(f"  tokens {state.tokens_in} in / {state.tokens_out} out")
    return text


def render_live(state: ViewState, max_lines: int = 20) -> RenderableType:
    parts: list[RenderableType] = [line_text(line) for line in state.lines[-max_lines:]]
    if state.preview:
        parts.append(Text(f"you  {state.preview}…", style="italic dim"))
    parts.extend(Text(f"! {notice}", style="yellow") for notice in state.notices[-2:])
    parts.append(Text("─" * 40, style="dim"))
    parts.append(status_text(state))
    if state.status != up.CLOSED:  # the last frame stays on screen: no stale instructions
        parts.append(Text("Ctrl+C to end · speak to interrupt", style="dim"))
    return Group(*parts)


class LiveView:
    """The terminal view: redrawn in place by the main thread, at most every poll."""

    def __init__(self, console: Console):
        self.console = console
        self.state = ViewState()
        self._live = Live(render_live(self.state), console=console, auto_refresh=False,
                          transient=False, redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def apply(self, update: up.Update) -> None:
        self.state.apply(update)

    def refresh(self, mic_dbfs: float | None = None) -> None:
        self.state.mic_dbfs = mic_dbfs
        height = max(5, self.console.size.height - 6)
        try:
            self._live.update(render_live(self.state, max_lines=height), refresh=True)
        except OSError as exc:
            raise _write_failed(exc) from None

    def close(self) -> None:
        try:
            self._live.stop()
        except OSError as exc:
            raise _write_failed(exc) from None


def _write_failed(exc: OSError) -> BaseException:
    """EIO from the terminal means it hung up (often just before SIGHUP): end as for SIGHUP."""
    return signals.hang_up() if exc.errno == errno.EIO else exc


class PlainView:
    """Non-terminal output: one timestamped line per event worth keeping, no escapes."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream if stream is not None else sys.stdout
        self.state = ViewState()

    def _say(self, text: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        try:
            self.stream.write(f"[{stamp}] {text}\n")
            self.stream.flush()
        except OSError as exc:
            raise _write_failed(exc) from None

    def apply(self, update: up.Update) -> None:
        self.state.apply(update)
        if isinstance(update, up.StatusChanged) and update.status == up.LISTENING:
            self._say("listening")
        elif isinstance(update, up.Interrupted):
            self._say("interrupted: playback stopped")
        elif isinstance(update, up.Notice):
            self._say(f"warning: {excerpt(update.text)}")
        elif isinstance(update, up.TurnFinished):
            self._say(self._turn_line(update.turn))

    def _turn_line(self, turn: Turn) -> str:
        if turn.role == "user":
            return f"you: {_clean(turn.text)}"
        if turn.interrupted:
            heard = _clean(turn.heard or "")
            line = (f"qwen: {heard + ' ' if heard else ''}[cut; not heard: "
                    f"{_clean(turn.unheard or '')}]")
        else:
            line = f"qwen: {_clean(turn.text)}"
        extras = []
        if turn.latency_ms is not None:
            extras.append(f"latency {turn.latency_ms:.0f} ms")
        if turn.usage:
            extras.append(f"tokens {turn.usage.get('input_tokens', 0)} in / "
                          f"{turn.usage.get('output_tokens', 0)} out")
        return line + (f" ({', '.join(extras)})" if extras else "")

    def refresh(self, mic_dbfs: float | None = None) -> None:
        self.state.mic_dbfs = mic_dbfs

    def close(self) -> None:
        pass


def make_view(console: Console | None = None,
              stream: IO[str] | None = None) -> LiveView | PlainView:
    """LiveView when stdout is a terminal, PlainView otherwise."""
    stream = stream if stream is not None else sys.stdout
    if console is None and stream.isatty():
        console = Console(file=stream)
    if console is not None and console.is_terminal:
        return LiveView(console)
    return PlainView(stream)
