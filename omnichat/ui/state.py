"""The view's model: the session's description, the conversation as shown, and the status.

``ViewState.apply`` folds engine updates into it; nothing here prints. Finished turns (the
engine hands them out once, in conversation order) are queued in ``to_print`` for the live
view to move into the terminal's scrollback; ``pending`` holds the replies still streaming
(the live region draws them). All server text is cleaned (``clean_text``) as it arrives.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.sanitize import clean_text, excerpt

if TYPE_CHECKING:
    from omnichat.config.settings import Settings

TALK, PTT = "talk", "ptt"
RECENT_USER_ITEMS = 64  # finished user items whose late previews are ignored


def clean(text: str) -> str:
    return clean_text(text, keep_newlines=False)


@dataclass
class ViewConfig:
    """What the header and the hints describe: set once by the command, changed by updates.

    ``mode`` is "talk" or "ptt"; ``text_only`` means replies are text (nothing to speak over);
    ``keys`` says whether the keyboard is live; ``hold`` whether push-to-talk is held (the
    terminal reports key release) or toggled. ``region`` None with ``local`` is the emulator.
    """

    model: str = ""
    voice: str | None = None
    region: str | None = None
    local: bool = False
    mode: str = TALK
    text_only: bool = False
    keys: bool = False
    hold: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, *, local: bool, mode: str = TALK,
                      keys: bool = False) -> ViewConfig:
        """The config of a session run with ``settings``."""
        return cls(model=settings.model, voice=settings.voice, region=settings.region,
                   local=local, mode=mode, keys=keys,
                   text_only=list(settings.modalities) == ["text"])


@dataclass
class Line:
    """One entry of the conversation as shown (text is already clean)."""

    role: str
    text: str = ""
    response_id: str | None = None
    cut: int | None = None  # where a barge-in cut the reply (chars of ``text``)
    latency_ms: float | None = None
    call_id: str | None = None  # role "tool": the function call it shows


def tool_outcome(update: up.ToolProgress) -> str:
    """``NAME …`` while a call runs, ``NAME → OUTPUT`` once it answered, else why not."""
    if update.status is None:
        return f"{clean(update.name)} …"
    if update.status == "ok":
        return f"{clean(update.name)} → {clean(update.output)}"
    if update.status == "cancelled":
        return f"{clean(update.name)} ✗ cancelled (you moved on)"
    detail = f": {clean(update.output)}" if update.output else ""
    return f"{clean(update.name)} ✗ {update.status}{detail}"


@dataclass(frozen=True)
class Note:
    """A notice for the scrollback: ``level`` warning (``!``), info or question."""

    text: str
    level: str = "warning"


@dataclass
class Editor:
    """The typed-message line (closed: not drawn)."""

    text: str = ""
    cursor: int = 0
    open: bool = False


@dataclass
class ViewState:
    """The conversation and the status bar, built from engine updates."""

    config: ViewConfig = field(default_factory=ViewConfig)
    pending: list[Line] = field(default_factory=list)  # replies not finished yet
    to_print: list[Line | Note] = field(default_factory=list)  # finished turns and notices
    status: up.Status = up.CONNECTING
    preview: str = ""  # what the user is saying, before the transcription is final
    preview_item: str | None = None
    mic_dbfs: float | None = None
    last_latency_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    # Recent replies whose usage is not known (yet): the token count is a lower bound; one
    # that leaves this window stays unknown for good (``_usage_lost``).
    usage_unknown: dict[str, None] = field(default_factory=dict)
    _usage_lost: bool = False
    _usage_counted: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_USER_ITEMS))
    muted: bool = False
    recording: bool = False  # push-to-talk: the microphone is being sent
    editor: Editor = field(default_factory=Editor)
    _done_items: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_USER_ITEMS))

    def _assistant(self, response_id: str | None) -> Line:
        for line in self.pending:
            if line.response_id == response_id:
                return line
        line = Line("assistant", response_id=response_id)
        self.pending.append(line)
        return line

    def apply(self, update: up.Update) -> None:
        if isinstance(update, up.StatusChanged):
            self.status = update.status
        elif isinstance(update, up.UserPreview):
            self._preview(update)
        elif isinstance(update, up.AssistantStarted):
            self._assistant(update.response_id)
        elif isinstance(update, up.AssistantDelta):
            self._assistant(update.response_id).text += clean(update.text)
        elif isinstance(update, up.Interrupted):
            self._assistant(update.response_id).cut = update.heard_chars
        elif isinstance(update, up.LatencyMeasured):
            self._assistant(update.response_id).latency_ms = update.latency_ms
            self.last_latency_ms = update.latency_ms
        elif isinstance(update, up.TurnFinished):
            self._finish(update.turn)
        elif isinstance(update, up.UsageReported):
            self._count_usage(update.response_id, update.usage)
        elif isinstance(update, up.ToolProgress):
            self._tool(update)
        elif isinstance(update, up.Notice):
            self.to_print.append(Note(excerpt(update.text), update.level))
        else:
            self._apply_keys(update)

    def _apply_keys(self, update: up.Update) -> None:
        if isinstance(update, up.EditorChanged):
            self.editor = Editor(update.text, update.cursor, update.open)
        elif isinstance(update, up.MicMuted):
            self.muted = update.muted
        elif isinstance(update, up.PushToTalkChanged):
            self.recording, self.config.hold = update.recording, update.hold
        elif isinstance(update, up.InputMode):
            self.config.mode, self.config.keys = update.mode, update.keys
        elif isinstance(update, up.RepliesChanged):
            self.config.text_only = update.text_only

    def _tool(self, update: up.ToolProgress) -> None:
        """A call runs in the live region and reaches the scrollback once it answered."""
        line = next((line for line in self.pending
                     if line.role == "tool" and line.call_id == update.call_id), None)
        if line is None:
            line = Line("tool", response_id=update.response_id, call_id=update.call_id)
            self.pending.append(line)
        line.text = tool_outcome(update)
        if update.status is not None:
            self.pending.remove(line)
            self.to_print.append(line)

    def _preview(self, update: up.UserPreview) -> None:
        # A transcription refresh for a turn already shown would draw the user's line twice.
        if update.item_id is not None and update.item_id in self._done_items:
            return
        self.preview, self.preview_item = clean(update.text), update.item_id

    def _finish(self, turn: Turn) -> None:
        if turn.role == "user":
            if turn.item_id is not None:
                self._done_items.append(turn.item_id)
            if self.preview_item is None or self.preview_item == turn.item_id:
                self.preview, self.preview_item = "", None
            self.to_print.append(Line("user", clean(turn.text) or "…"))
            return
        line = self._assistant(turn.response_id)
        self.pending.remove(line)
        self._count_usage(turn.response_id, turn.usage)
        if turn.tool_only and not turn.interrupted:
            return  # its content is the tool lines
        line.text = clean(turn.text)
        if turn.interrupted:
            line.cut = len(clean(turn.heard or ""))
        if turn.latency_ms is not None:
            line.latency_ms = self.last_latency_ms = turn.latency_ms
        self.to_print.append(line)

    def _count_usage(self, response_id: str | None, usage: dict[str, Any] | None) -> None:
        """Each reply's usage counts once, whether it came with the finished turn or later
        (a cut reply's ``response.done``); a finished reply without it is unknown so far."""
        key = response_id or ""
        if key in self._usage_counted:
            return
        if not usage:
            if response_id:
                self.usage_unknown[key] = None
                if len(self.usage_unknown) > RECENT_USER_ITEMS:
                    del self.usage_unknown[next(iter(self.usage_unknown))]
                    self._usage_lost = True
            return
        self._usage_counted.append(key)
        self.usage_unknown.pop(key, None)
        self.tokens_in += _tokens(usage, "input_tokens")
        self.tokens_out += _tokens(usage, "output_tokens")

    @property
    def tokens_are_lower_bound(self) -> bool:
        return bool(self.usage_unknown) or self._usage_lost

    def take_printable(self) -> list[Line | Note]:
        """The finished turns and notices not printed yet, in order (and forget them)."""
        out, self.to_print = self.to_print, []
        return out


def _tokens(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
