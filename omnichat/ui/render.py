"""Rich renderables of the view: turn lines, the header, the status line, hints, the editor.

Everything that must fit one row is built for a width: the status line and the hints drop
their least useful parts first (never cut mid-word without an ellipsis). ``LiveRegion`` is
what the live view redraws: the replies in progress, cropped to their newest rows, then the
fixed rows (preview, editor, the rule titled with the header, status, hints), bounded by the
terminal's size. A turn is wrapped with a hanging indent under its label (``turn_rows``), its
tags are never split, and when only its newest rows fit, its first visible row names the
speaker (``qwen …``), so a long answer never reads as the line above it.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.text import Text

from omnichat.catalog import REGIONS
from omnichat.engine import updates as up
from omnichat.ui.state import PTT, Line, Note, ViewConfig, ViewState

METER_CELLS = 12
METER_FLOOR_DBFS = -60.0
CUT_MARK = " ✂ "
_STATUS_STYLE = {up.CONNECTING: "yellow", up.LISTENING: "green", up.HEARING: "bold cyan",
                 up.THINKING: "magenta", up.SPEAKING: "bold blue", up.INTERRUPTED: "bold red",
                 up.RECONNECTING: "yellow", up.CLOSED: "dim"}


def meter(dbfs: float | None, cells: int = METER_CELLS) -> str:
    """A text level meter: ``▮`` per lit cell over METER_FLOOR_DBFS..0 dBFS."""
    if dbfs is None:
        return "·" * cells
    lit = round(cells * (max(METER_FLOOR_DBFS, min(0.0, dbfs)) - METER_FLOOR_DBFS)
                / -METER_FLOOR_DBFS)
    return "▮" * lit + "·" * (cells - lit)


LABEL_CELLS = 5  # "you  " / "qwen ": continuation rows are indented this far
CONTINUED = "…"  # after the label on a turn's first visible row when its start is cropped
TOOL_MARK = "⚙ "


def label_text(line: Line) -> Text:
    if line.role == "user":
        return Text("you  ", style="bold cyan")
    return Text("qwen ", style="bold blue")


def body_text(line: Line) -> Text:
    """A turn without its label and its tags: the unheard part of a cut reply struck."""
    if line.role == "user":
        return Text(line.text)
    text = Text()
    if line.role == "tool":
        text.append(TOOL_MARK, style="bold magenta")
    if line.cut is not None:
        text.append(line.text[:line.cut].rstrip())
        text.append(CUT_MARK, style="bold red")
        text.append(line.text[line.cut:].lstrip(), style="dim strike")
    else:
        text.append(line.text)
    return text


def tag_text(line: Line) -> Text | None:
    """The reply's tags (its latency): kept whole on one row, never broken across two."""
    if line.latency_ms is None:
        return None
    return Text(f"({line.latency_ms:.0f} ms)", style="dim")


def line_text(line: Line) -> Text:
    """One conversation line as one Text: ``you  ...`` or ``qwen ...`` (no wrapping)."""
    text = label_text(line)
    text.append_text(body_text(line))
    tag = tag_text(line)
    if tag is not None:
        text.append("  ")
        text.append_text(tag)
    return text


def turn_rows(line: Line, console: Console, width: int) -> list[Text]:
    """A turn wrapped to ``width``: the label on its first row, the other rows indented
    under the text (a hanging indent), the tag whole on the last row or on its own."""
    if width < 2 * LABEL_CELLS:  # too narrow for an indent: plain wrapping
        return list(line_text(line).wrap(console, max(1, width)))
    room = width - LABEL_CELLS
    body = [row.copy() for row in body_text(line).wrap(console, room)] or [Text()]
    for row in body:
        row.rstrip()
    tag = tag_text(line)
    if tag is not None:
        if body[-1].cell_len + 2 + tag.cell_len <= room:
            body[-1].append("  ")
            body[-1].append_text(tag)
        else:
            body.extend(tag.wrap(console, room))
    return [Text.assemble(label_text(line) if number == 0 else " " * LABEL_CELLS, row)
            for number, row in enumerate(body)]


def continued_row(line: Line) -> Text:
    """The first visible row of a turn whose start was cropped: its label and ``…``."""
    text = label_text(line)
    text.append(CONTINUED, style="dim")
    return text


class TurnRows:
    """A finished turn as printed into the scrollback: wrapped at the console's width with
    the same hanging indent as the live region."""

    def __init__(self, line: Line):
        self.line = line

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = turn_rows(self.line, console, options.max_width)
        for row in rows:
            row.no_wrap, row.overflow = True, "crop"
            yield row


_NOTE_MARKS = {"warning": ("! ", "yellow"), "question": ("? ", "bold"), "info": ("· ", "dim")}


def notice_text(notice: Note | str) -> Text:
    """``! text`` for a warning; information is not marked as one (``· text``)."""
    note = notice if isinstance(notice, Note) else Note(notice)
    mark, style = _NOTE_MARKS.get(note.level, _NOTE_MARKS["warning"])
    return Text(f"{mark}{note.text}", style=style)


def fit(variants: Iterable[Text], width: int) -> Text:
    """The first variant that fits ``width`` cells; else the last, cut with an ellipsis."""
    last = Text()
    for last in variants:
        if last.cell_len <= width:
            return last
    last = last.copy()
    last.truncate(max(1, width), overflow="ellipsis")
    return last


# ---- header and hints ------------------------------------------------------------------------


def where(config: ViewConfig) -> str | None:
    if config.local:
        return "local emulator"
    region = REGIONS.get(config.region or "")
    return f"{config.region} ({region.description})" if region else config.region


def header_text(config: ViewConfig, width: int) -> Text:
    """``omnichat · MODEL · voice V · REGION · MODE``, shortened to fit."""
    mode = config.mode + (" · text replies" if config.text_only else "")
    voice = None if config.text_only or not config.voice else f"voice {config.voice}"
    place = where(config)
    short_place = "local" if config.local else config.region
    parts: list[list[str | None]] = [["omnichat", config.model, voice, place, mode],
             [config.model, voice, place, mode],
             [config.model, voice, short_place, mode],
             [config.model, short_place, config.mode]]
    return fit((Text(" · ".join(p for p in ps if p), style="dim") for ps in parts), width)


def hint_parts(config: ViewConfig) -> list[str]:
    """What the keys do in this mode, most important first."""
    speak = not config.text_only
    if not config.keys:
        return ["Ctrl+C to end"] + (["speak to interrupt"] if speak and config.mode != PTT
                                    else [])
    if config.mode == PTT:
        talk = "hold space to talk" if config.hold else "space to start/send"
        return [talk, "q to end", "esc to drop", "enter to type", "/ command", "? keys"]
    interrupt = ["space or speak to interrupt"] if speak else []
    return ["q to end", *interrupt, "enter to type", "/ command", "? keys"]


def hint_text(config: ViewConfig, width: int) -> Text:
    parts = hint_parts(config)
    return fit((Text(" · ".join(parts[:n]), style="dim") for n in range(len(parts), 0, -1)),
               width)


# ---- the status line -------------------------------------------------------------------------


def status_text(state: ViewState, width: int = 200) -> Text:
    """``● status  mic ▮▮··  latency 640 ms  tokens 30 in / 12 out``, parts dropped to fit."""
    variants = []
    for label, tokens, latency, show_meter in _STATUS_VARIANTS:
        text = Text("● ", style=_STATUS_STYLE.get(state.status, ""))
        shown = status_label(state)
        text.append(f"{shown:<12}" if label else shown,
                    style=_STATUS_STYLE.get(state.status, ""))
        if state.recording:
            text.append("  ● REC", style="bold red")
        if state.muted:
            text.append("  muted", style="bold yellow")
        elif show_meter:
            text.append(" mic " if label else " ")
            text.append(meter(state.mic_dbfs), style="green")
        _append_figures(text, state, tokens, latency)
        variants.append(text)
    return fit(variants, width)


def status_label(state: ViewState) -> str:
    """The state's word; push-to-talk between turns is "ready", not "listening": nothing is
    sent until Space is pressed."""
    if state.config.mode == PTT and state.status == up.LISTENING and not state.recording:
        return "ready"
    return str(state.status)


# (long labels, tokens: "long"/"short"/None, latency: "long"/"short"/None, meter)
_STATUS_VARIANTS = [(True, "long", "long", True), (False, "long", "long", True),
                    (False, "short", "long", True), (False, None, "long", True),
                    (False, None, "short", True), (False, None, "short", False),
                    (False, None, None, False)]


def _append_figures(text: Text, state: ViewState, tokens: str | None,
                    latency: str | None) -> None:
    if latency and state.last_latency_ms is not None:
        name = "latency " if latency == "long" else ""
        text.append(f"  {name}{state.last_latency_ms:.0f} ms")
    if tokens and (state.tokens_in or state.tokens_out):
        least = "≥" if state.tokens_are_lower_bound else ""  # a reply's usage is unknown
        used_in, used_out = state.tokens_in, state.tokens_out
        text.append(f"  tokens {least}{used_in} in / {least}{used_out} out" if tokens == "long"
                    else f"  {least}{used_in}/{used_out} tok")


def editor_text(state: ViewState, width: int) -> Text:
    """``> text`` with the cursor drawn reversed, scrolled so the cursor stays visible."""
    chars = "".join(c if c.isprintable() else "·" for c in state.editor.text)
    cursor = max(0, min(state.editor.cursor, len(chars)))
    room = max(4, width - 3)
    start = 0
    while cell_len(chars[start:cursor]) > room - 1:
        start += 1
    shown = chars[start:]
    text = Text("> ", style="bold")
    text.append(shown[:cursor - start])
    text.append(shown[cursor - start:cursor - start + 1] or " ", style="reverse")
    text.append(shown[cursor - start + 1:])
    text.truncate(width, overflow="ellipsis")
    return text


# ---- the live region -------------------------------------------------------------------------


def rule_text(config: ViewConfig, width: int) -> Text:
    """The rule above the status line, titled with the header: ``── model · voice · … ──``."""
    title = header_text(config, max(1, width - 6))
    text = Text("── ", style="dim")
    text.append_text(title)
    text.append(" " + "─" * max(0, width - title.cell_len - 4), style="dim")
    text.truncate(width)
    return text


def fixed_rows(state: ViewState, width: int, height: int) -> list[Text]:
    """The rows under the conversation, one row of ``width`` each; when fewer than these
    fit in ``height``, the preview goes first, then the rule, the hints, the editor: the
    status line always stays."""
    rows: dict[str, Text] = {}
    if state.preview:
        rows["preview"] = fit([Text(f"you  {state.preview}…", style="italic dim")], width)
    if state.editor.open:
        rows["editor"] = editor_text(state, width)
    rows["rule"] = rule_text(state.config, width)
    rows["status"] = status_text(state, width)
    if state.status != up.CLOSED:  # the last frame stays on screen: no stale instructions
        rows["hint"] = hint_text(state.config, width)
    for name in ("preview", "rule", "hint", "editor"):
        if len(rows) > height:
            rows.pop(name, None)
    return list(rows.values())


def pending_rows(lines: list[Line], console: Console, width: int, room: int) -> list[Text]:
    """The newest ``room`` rows of the turns in progress; a turn whose first rows are cropped
    shows its label on its first visible row, so a long answer never reads as the user's."""
    rows: list[tuple[Line, int, Text]] = []
    for line in lines:
        rows.extend((line, number, row)
                    for number, row in enumerate(turn_rows(line, console, width)))
    rows = rows[-room:]
    if rows and rows[0][1] > 0:
        line = rows[0][0]
        if len(rows) > 1 and rows[1][0] is line:
            rows[0] = (line, 0, continued_row(line))
        else:  # only one row of it fits: its label, then as much of the row as fits
            rows[0] = (line, 0, Text.assemble(continued_row(line), " ",
                                              rows[0][2][LABEL_CELLS:]))
    return [row for _, _, row in rows]


class LiveRegion:
    """The live region: the newest rows of the replies in progress, then the fixed rows.

    At most ``height - 1`` rows (the cursor's row stays free, so a redraw never scrolls); the
    status line is always in it, then the other fixed rows, and what room is left goes to
    the newest rows of the replies in progress.
    """

    def __init__(self, state: ViewState, height: int | None = None):
        self.state = state
        self.height = height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        height = max(1, (self.height or options.size.height) - 1)
        fixed = fixed_rows(self.state, width, height)
        room = height - len(fixed)
        rows: list[list[Segment]] = []
        if self.state.pending and room > 0:
            body = pending_rows(self.state.pending, console, width, room)
            rows.extend(console.render_lines(text, options.update(no_wrap=True),
                                             pad=False)[0] for text in body)
        for text in fixed:
            rows.extend(console.render_lines(text, options.update(no_wrap=True), pad=False)[:1])
        for index, row in enumerate(rows):
            yield from row
            if index < len(rows) - 1:
                yield Segment.line()
