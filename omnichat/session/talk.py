"""``omnichat talk``: wire settings, audio ends, the engine, the view and the transcript.

Ownership and the order things are opened and closed (an ``ExitStack`` unwinds it in
reverse, so every path — normal end, error, Ctrl+C — closes everything)::

    emulator (--local) -> transcript -> speaker/FileSpeaker -> engine (socket, threads)
    -> microphone/WavMicrophone -> view           closed: view, mic, engine, speaker, ...

The main thread runs the view loop: ``engine.poll()`` every ≤100 ms, redraw, and — with
``--input`` — end once the file was sent and the conversation went idle (no speech, no reply
pending, playback drained) for a settle time, or after ``finish_timeout_s``; ``q``, Ctrl+D
and ``/quit`` end it normally too.

``ptt`` is the same conversation with manual turns (``turn_detection: null``): the microphone
goes through a push-to-talk gate. Everything that feeds a session besides the engine (the
gate or file turns, ``--record``, pictures, camera, keyboard) is ``session_inputs``.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from rich.console import Console

from omnichat.audio.playback import PlaybackBuffer
from omnichat.config.settings import Settings, TurnDetection
from omnichat.engine import Engine
from omnichat.engine import updates as up
from omnichat.engine.reconnect import reconnect_policy
from omnichat.engine.turns import now_utc
from omnichat.errors import AuthFailed, NoReply, UsageError
from omnichat.session.carry import Carry
from omnichat.session.inputs import InputOptions, SessionInputs, open_inputs, prepare_inputs
from omnichat.session.tools import ToolOptions, open_tools
from omnichat.terminal.stderr_capture import StderrCapture, capture_stderr
from omnichat.transcript import TranscriptWriter, session_path
from omnichat.transport import WebSocketTransport
from omnichat.ui import LiveView, ViewConfig, make_view
from omnichat.ui.plain import silence

if TYPE_CHECKING:  # the audio modules import sounddevice lazily; only their names here
    from omnichat.audio.speaker import FileSpeaker, Speaker
    from omnichat.ui import LiveView, PlainView

    View = LiveView | PlainView

POLL_S = 0.1
SETTLE_EXTRA_S = 0.6  # idle this long beyond the VAD silence before a file session ends
FINISH_TIMEOUT_S = 120.0  # after the input file ended, give up waiting for replies
# Input peaking above this was loud enough to be speech: if the service never heard it, the
# microphone is not what failed (speech peaks around -20..-6 dBFS; a quiet room, -60).
LOUD_DBFS = -30.0


@dataclass
class TalkOptions:
    """What ``talk`` needs beyond ``Settings`` (the CLI flags that are not settings)."""

    local: bool = False
    input_wav: Path | None = None
    output_wav: Path | None = None
    transcript: Path | None = None
    tools: ToolOptions = field(default_factory=ToolOptions)  # --attach, --tools, --yes
    # Internal knobs (tests): pacing of the input file and output file, emulator speed.
    input_pace: float = 1.0
    output_pace: float = 1.0
    emulator_speed: str | float = "realtime"
    emulator_options: dict[str, Any] | None = None
    finish_timeout_s: float = FINISH_TIMEOUT_S
    # ptt, several --input files, --image, --camera/--video, --record, the keyboard.
    feed: InputOptions = field(default_factory=InputOptions)
    # --continue ("last") / --resume ID, and --events PATH|- (docs/events.md); run_talk
    # resolves them into ``carry`` before the session opens anything.
    resume: str | None = None
    events: str | None = None
    carry: Carry = field(default_factory=lambda: Carry())

    def inputs(self) -> InputOptions:
        """The input options with ``input_wav``/``input_pace`` folded in."""
        feed = self.feed
        if self.input_wav is not None and not feed.inputs:
            feed.inputs = [self.input_wav]
        feed.input_pace = self.input_pace
        return feed


@dataclass
class TalkResult:
    transcript: Path
    output_wav: Path | None
    turns: int
    last_latency_ms: float | None


def missing_key_error(settings: Settings) -> AuthFailed:
    return AuthFailed(f"no API key for region '{settings.region}': set {settings.api_key_env} "
                      "to a key made for that region (README, \"Getting a key\"), or try "
                      "the local emulator with --local")


def talk(settings: Settings, options: TalkOptions, *, console: Console | None = None,
         stream: IO[str] | None = None) -> TalkResult:
    """Run one hands-free conversation until Ctrl+C (or the end of ``--input``)."""
    text_only = list(settings.modalities) == ["text"]
    if text_only and options.output_wav is not None:
        raise UsageError("--output needs spoken replies; drop --text-only or --output")
    if not options.local and not settings.api_key:
        raise missing_key_error(settings)
    started = now_utc()
    transcript_path = options.transcript or session_path(settings.transcript_dir, started)
    feed = options.inputs()
    if settings.input_channels > 1 and (feed.inputs or feed.record):
        raise UsageError("--input-channels 2 or 4 records a microphone array; --input and "
                         "--record work with one channel: drop them or use --input-channels 1")
    if settings.turn_detection is None:  # [turn_detection] type = "manual" is push-to-talk
        feed.ptt = True
    view = None
    with contextlib.ExitStack() as stack:
        endpoint, key = _endpoint(settings, options, stack)
        carry = options.carry
        writer = stack.enter_context(TranscriptWriter(
            transcript_path, session=carry.session_record(settings, transcript_path)))
        prepared = prepare_inputs(stack, feed)  # bad files fail before any socket or device
        playback = None if text_only else PlaybackBuffer()
        tools = stack.enter_context(open_tools(settings, options.tools, writer=writer))
        engine = tools.attach(Engine(
            carry.session({**settings.session_payload(), **tools.session_fields()}, settings),
            playback=playback, on_turn=writer.write,
            **carry.tool_callbacks(tools.engine_callbacks(), writer, lambda: engine),
            connect=lambda: WebSocketTransport(
                endpoint, key, region=settings.region,
                key_env="" if options.local else settings.api_key_env,
                connect_timeout_s=settings.connect_timeout_s,
                allow_insecure=settings.allow_insecure,
                headers=None if options.local else settings.headers()),
            reconnect=reconnect_policy(settings), model=settings.model,
            mic_channels=settings.input_channels,
            max_reply_audio_s=settings.max_reply_audio_s))
        # The C libraries' stderr (ALSA's lines as the devices open) would land in the live
        # region, or between the plain lines on a terminal: held from before the speaker
        # opens, summarised in one line at the end (callbacks unwind in reverse order).
        views: list[View] = []
        held = StderrCapture()
        if _stderr_is_terminal() or (console is not None and console.is_terminal):
            stack.callback(_report_held_stderr, held, views)  # runs last: after the restore
            stack.enter_context(capture_stderr(into=held))
        speaker = (stack.enter_context(_speaker(playback, settings, options))
                   if playback is not None else None)
        view = make_view(console, stream, ViewConfig.from_settings(
            settings, local=options.local, mode="ptt" if feed.ptt else "talk"))
        views.append(view)
        stack.callback(view.close)
        view = carry.open_view(view, settings, transcript_path)  # earlier turns, --events
        # Unwound after engine.close() (even when it raises): what the engine finished while
        # closing — a reply cut by Ctrl+C or a dropped socket — still reaches the screen.
        opened: list[SessionInputs] = []  # filled once the inputs are open (for the report)
        stack.callback(_final_report, engine, playback, view, opened, speaker)
        stack.enter_context(engine)
        # Echo handling only where a speaker can be heard by a microphone (docs/echo.md).
        echo_ok = playback is not None and options.output_wav is None
        inputs = open_inputs(stack, engine, settings, feed, playback, prepared,
                             echo=echo_ok)
        tools.prompt = inputs.keys.prompt if inputs.keys is not None else None
        tools.approvals.prompt = inputs.keys.prompt if inputs.keys is not None else None
        opened.append(inputs)
        _run(engine, inputs, view, settings, options, speaker)
    quit_by_key = inputs.keys is not None and inputs.keys.quit.is_set()
    if feed.inputs and not quit_by_key:  # q or /quit is the user's choice, not a failure
        _check_answered(engine, opened[0].source)
    return TalkResult(transcript_path, options.output_wav, writer.turns_written,
                      engine.last_latency_ms)


def _stderr_is_terminal() -> bool:
    try:
        return os.isatty(2)
    except OSError:
        return False


def _report_held_stderr(held: StderrCapture, views: list[View]) -> None:
    summary = held.summary()  # filled in when capture_stderr's block ended
    if not summary:
        return
    view = views[0] if views else None
    if isinstance(view, LiveView):
        view.console.print(f"note: {summary}", markup=False, highlight=False)
    else:
        import sys

        sys.stderr.write(f"omnichat: note: {summary}\n")


def _final_report(engine: Engine, playback: PlaybackBuffer | None, view: View,
                  opened: list[SessionInputs], speaker: Any = None) -> None:
    """Show the updates left after the engine closed, the counters the audio callbacks kept
    (they never print themselves), and why nothing was heard if nothing was."""
    for update in engine.poll(0):
        view.apply(update)
    if engine.mic_drops:
        view.apply(up.Notice(f"{_times(engine.mic_drops, 'microphone block')} dropped "
                             "(the connection could not keep up)"))
    if playback is not None and playback.underruns:
        view.apply(up.Notice(f"the speaker ran dry {_times(playback.underruns, 'time')} "
                             "mid-reply (reply audio arrived slower than it played)"))
    device_dry = getattr(speaker, "device_underflows", 0)
    if device_dry:  # counted by the speaker; ALSA's own lines about it are held back
        view.apply(up.Notice(f"the sound device ran dry {_times(device_dry, 'time')} during "
                             "a reply (a click: the machine was too busy to feed it)"))
    hint = _never_heard_hint(engine, opened[0].source) if opened else None
    if hint:
        view.apply(up.Notice(hint))
    view.refresh(None)


def _times(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _unheard_peak_dbfs(engine: Engine, source: Any) -> float | None:
    """The input's peak level when a hands-free session sent audio in which the service
    never heard the user; else None."""
    stats, peak = getattr(source, "stats", None), getattr(source, "peak_dbfs", None)
    if stats is None or peak is None:
        return None  # push-to-talk turns from files: nothing to judge
    # with echo handling the echo stage sends the blocks, not the microphone's chain
    sent = stats["blocks_sent"] + stats.get("blocks_dropped_by_stages", 0)
    if engine.failed or sent < 50:  # under a second: nothing to judge
        return None
    if any(turn.role == "user" for turn in engine.conversation.history()):
        return None
    return float(peak)


def _check_answered(engine: Engine, source: Any) -> None:
    """An ``--input`` session must end with a reply to what it said: exit non-zero when the
    user was heard but never answered, or loud input drew no reaction at all."""
    history = engine.conversation.history()
    if any(t.role == "assistant" and t.status == "completed" for t in history):
        return
    users = sum(1 for t in history if t.role == "user")
    peak = _unheard_peak_dbfs(engine, source)
    if users:
        raise NoReply(f"the session ended without a single completed reply to the "
                      f"{_times(users, 'turn')} the service heard")
    if peak is not None and peak > LOUD_DBFS:
        raise NoReply("the session ended without a reply: the service never reacted to the "
                      f"input (it peaked at {peak:.0f} dBFS, loud enough to be speech)")


def _never_heard_hint(engine: Engine, source: Any) -> str | None:
    """A hands-free session that sent audio in which the service never heard the user."""
    peak = _unheard_peak_dbfs(engine, source)
    if peak is None:
        return None
    if peak > LOUD_DBFS:  # loud enough: the microphone is not what failed
        return (f"the service never reacted to the audio it was sent (no speech_started), "
                f"although it peaked at {peak:.0f} dBFS: the microphone is fine; the "
                "service, or the connection to it, did not answer")
    level = "silent" if peak <= -100 else f"at most {peak:.0f} dBFS"
    return (f"no speech was heard: the input was {level}. Check the microphone "
            "('omnichat devices', --input-device) or speak louder; to hear quieter speech, "
            "lower [turn_detection] threshold in the config (e.g. 0; -1 is the most sensitive)")


def _endpoint(settings: Settings, options: TalkOptions,
              stack: contextlib.ExitStack) -> tuple[str, str | None]:
    if not options.local:
        return settings.endpoint(), settings.api_key
    from omnichat.emulator import Emulator  # only --local pays for the server import

    emulator = Emulator(api_key=None, speed=options.emulator_speed,
                        **(options.emulator_options or {}))
    stack.enter_context(emulator)
    return f"{emulator.url}?model={quote(settings.model, safe='')}", None


def _speaker(playback: PlaybackBuffer, settings: Settings,
             options: TalkOptions) -> Speaker | FileSpeaker:
    from omnichat.audio.speaker import FileSpeaker, Speaker

    if options.output_wav is not None:
        return FileSpeaker(playback, options.output_wav, pace=options.output_pace)
    return Speaker(playback, device=settings.output_device)


def _run(engine: Engine, inputs: SessionInputs, view: View, settings: Settings,
         options: TalkOptions, speaker: Any = None) -> None:
    """The main-thread loop: updates -> view; ends on failure, on a quit key, when a file
    session is done, or when a sound device went away (one line, exit 3)."""
    td = settings.turn_detection or TurnDetection()  # manual: the default silence
    settle_s = td.silence_duration_ms / 1000.0 + SETTLE_EXTRA_S
    mic, keys = inputs.source, inputs.keys
    devices = [d for d in (mic, speaker) if hasattr(d, "device_lost")]
    looped_at = check_from = time.monotonic()
    file_done = getattr(mic, "file_done", None)
    idle_since: float | None = None
    done_at: float | None = None
    while True:
        for update in engine.poll(POLL_S):
            if keys is not None:
                keys.observe(update)
            view.apply(update)
        view.refresh(mic.level_dbfs)
        if engine.failed or engine.stopping or (keys is not None and keys.quit.is_set()):
            return
        for part in (mic, inputs.frames):
            if part is not None and part.error is not None:
                raise part.error
        now = time.monotonic()
        if now - looped_at > 1.0:  # this loop itself stalled (the machine slept): the devices
            check_from = now + 2.0  # get as long as after a start to call back again
        looped_at = now
        for device in devices if now >= check_from else ():
            lost = device.device_lost(now)
            if lost is not None:
                raise lost
        if file_done is None or not file_done.is_set():
            continue
        now = time.monotonic()
        done_at = done_at or now
        idle_since = (idle_since or now) if engine.is_idle() else None
        if idle_since is not None and now - idle_since >= settle_s:
            return
        if now - done_at > options.finish_timeout_s:
            view.apply(up.Notice(f"no end of the conversation {options.finish_timeout_s:.0f} s "
                                 "after the input file ended; stopping"))
            return


def run_talk(flags: dict[str, Any], options: TalkOptions, *, text_only: bool = False,
             stream: IO[str] | None = None) -> TalkResult:
    """The ``talk`` command: settings from flags, one conversation, then where files went.

    The summary is printed even after Ctrl+C: the transcript was written turn by turn.
    """
    import sys

    from omnichat.config.settings import load_settings
    from omnichat.config.warning import readable_by_others, voice_warning, workspace_hint

    if text_only:
        flags = {**flags, "modalities": ["text"]}
    settings = load_settings(flags)
    warnings = [readable_by_others(settings.config_file), voice_warning(settings)]
    if not options.local:
        warnings.append(workspace_hint(settings))
    for warning in filter(None, warnings):
        sys.stderr.write(f"omnichat: warning: {warning}\n")
    options.carry = Carry.resolve(settings, options.resume, options.events, options.transcript)
    options.transcript = options.carry.transcript_path() or options.transcript
    if options.transcript is None:
        options.transcript = session_path(settings.transcript_dir, now_utc())
    # --events -: stdout carries the events, so the human view moves to stderr
    out = stream if stream is not None else sys.stderr if options.events == "-" else sys.stdout
    transcript = options.transcript
    if options.carry.resumption is None and transcript.is_file() \
            and transcript.stat().st_size > 0:
        out.write(f"note: appending to the existing transcript {transcript}\n")
    before = {path: _stamp(path) for path in (transcript, options.output_wav, options.feed.record)
              if path is not None}
    error: BaseException | None = None
    try:
        return talk(settings, options, stream=out)
    except BaseException as exc:
        error = exc
        raise
    finally:
        _print_summary(out, options, before)
        options.carry.finish(out, options.transcript, error)


def _stamp(path: Path | None) -> tuple[int, int] | None:
    """What tells whether this run wrote ``path``: its size and change time, None if absent."""
    try:
        info = path.stat() if path is not None else None
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns) if info is not None else None


def _print_summary(out: IO[str], options: TalkOptions,
                   before: dict[Path, tuple[int, int] | None]) -> None:
    """Where the session's files went: only files this run wrote (a failed start leaves an
    older file as it was, and says nothing of it); nothing if the reader went away."""
    lines = []
    for label, path in (("transcript", options.transcript), ("reply audio", options.output_wav),
                        ("recording", options.feed.record)):
        if path is None or not path.is_file():
            continue
        if _stamp(path) != before.get(path):
            lines.append(f"{label}: {path}\n")
    try:
        out.writelines(lines)
        out.flush()
    except BrokenPipeError:
        silence(out)
