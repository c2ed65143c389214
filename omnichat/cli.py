"""The Typer front-end: turns flags into settings and calls one function per command.

Every ``OmnichatError`` is translated here, in ``_OmnichatGroup.invoke``, into one line on
stderr and its exit code; ``--debug`` prints the traceback first and keeps the exit code. A
bad flag (click's ``UsageError``) is one line and exit 2 too. A pipe closed by its reader
(``omnichat voices | head -1``) ends quietly with 0. Help is click's plain help (``-h`` or
``--help``), wrapped to the terminal. ``talk``'s setting flags come from the settings table
(``omnichat.config.flags``). Typer never prints local variables (they may hold the API key).
"""

from __future__ import annotations

import os
import platform
import sys
import traceback
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

try:  # Typer 0.2x vendors its own click; its usage errors are not click's
    from typer._click.exceptions import NoArgsIsHelpError
    from typer._click.exceptions import UsageError as FlagError
except ImportError:  # pragma: no cover - Typer on the public click
    from click.exceptions import NoArgsIsHelpError  # type: ignore[assignment]
    from click.exceptions import UsageError as FlagError  # type: ignore[assignment]

from omnichat import __version__
from omnichat.command_help import in_help_order, uniform_metavars
from omnichat.config.flags import setting_flags, settings_from_flags
from omnichat.errors import ExitCode, OmnichatError
from omnichat.sanitize import clean_text
from omnichat.terminal import signals

_state = {"debug": False}

OVERVIEW = """\
omnichat: talk with Qwen-Omni-Realtime models from the terminal.

Common commands:
  omnichat talk --local      try it with the built-in emulator (no key, no cost)
  omnichat talk              talk to the service (needs DASHSCOPE_API_KEY)
  omnichat ptt --local       push-to-talk: hold Space while you speak
  omnichat ask "question"    one typed question; prints and speaks the reply
  omnichat history           past conversations; talk --continue carries one on
  omnichat voices            list the voices of the configured model
  omnichat devices           list microphones and speakers
  omnichat config init       write a starter config file
  omnichat config show       the settings in effect and where each comes from
  omnichat doctor            check audio, config, keys and the connection

'omnichat COMMAND -h' shows a command's options, 'omnichat -h' all commands."""


def _usage_line(exc: FlagError) -> typer.Exit:
    """Print a bad flag or argument as one line naming the command and where help is."""
    command = exc.ctx.command_path if exc.ctx is not None else "omnichat"
    message = clean_text(exc.format_message(), keep_newlines=False).rstrip(".")
    joiner = " See" if message.endswith("?") else "; see"  # "Did you mean 'talk'? See ..."
    typer.echo(f"omnichat: error: {message}{joiner} '{command} --help'", err=True)
    return typer.Exit(int(ExitCode.USAGE))


def _quiet_broken_pipe() -> typer.Exit:
    """The reader closed the pipe (``omnichat voices | head -1``): stop quietly with 0.

    stdout is pointed at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test runner)
        pass
    finally:
        os.close(devnull)
    return typer.Exit(0)


def _fail(exc: BaseException, line: str, code: int) -> typer.Exit:
    """One line and the exit code; with --debug the traceback first, the code unchanged."""
    if _state["debug"]:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    typer.echo(line, err=True)
    return typer.Exit(code)


class _OmnichatGroup(TyperGroup):
    """A click group that turns expected failures into one clean line and an exit code."""

    def list_commands(self, ctx: Any) -> list[str]:
        return in_help_order(super().list_commands(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return uniform_metavars(super().get_command(ctx, cmd_name))

    def make_context(self, info_name: str | None, args: list[str],
                     parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except NoArgsIsHelpError:
            raise
        except FlagError as exc:  # a bad root option, e.g. `omnichat --bogus`
            raise _usage_line(exc) from None
        except BrokenPipeError:  # --help or --version into a closed pipe
            raise _quiet_broken_pipe() from None

    def invoke(self, ctx: Any) -> Any:
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
            return result
        except NoArgsIsHelpError:
            raise
        except FlagError as exc:  # a bad subcommand, flag or flag value
            raise _usage_line(exc) from None
        except BrokenPipeError:
            raise _quiet_broken_pipe() from None
        except OmnichatError as exc:  # one line per mistake (a config file may have several)
            line = "\n".join(f"omnichat: error: {clean_text(part, keep_newlines=False)}"
                              for part in str(exc).splitlines() or [""])
            raise _fail(exc, line, int(exc.exit_code)) from None
        except KeyboardInterrupt as exc:  # Ctrl+C, or SIGTERM/SIGHUP (signals.Terminated)
            reason = str(exc) if isinstance(exc, signals.Terminated) else "interrupted"
            raise _fail(exc, f"omnichat: {reason}", int(ExitCode.INTERRUPTED)) from None


# Plain click help (rich_markup_mode=None): flags show as flags, not as "--local <bool>", and
# long help wraps at the terminal's width instead of being cut off.
_CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    cls=_OmnichatGroup,
    help="Talk with Qwen-Omni-Realtime models from the terminal.",
    invoke_without_command=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings=_CONTEXT,
)


def _version_text() -> str:
    """The version, where the config file is, and which Python and PortAudio run omnichat."""
    from omnichat.config.settings import config_path

    path = config_path()
    state = "" if path.is_file() else " (not found; `omnichat config init` creates it)"
    return "\n".join([f"omnichat {__version__}", f"config: {path}{state}",
                      f"python: {platform.python_version()} ({sys.executable})",
                      f"portaudio: {_portaudio_version()}",
                      "checks: `omnichat doctor` (audio, config, keys, connection)"])


def _portaudio_version() -> str:
    from omnichat.audio.devices import sounddevice_module
    from omnichat.errors import AudioDeviceError

    try:
        return str(sounddevice_module().get_portaudio_version()[1])
    except AudioDeviceError:
        return "not found (apt-get install libportaudio2)"


def _log_debug() -> None:
    import logging

    logging.basicConfig(level=logging.DEBUG, format="omnichat: debug: %(name)s: %(message)s")
    logging.getLogger("omnichat.emulator.websockets").setLevel(logging.INFO)  # not per frame


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(_version_text())
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug",
                               help="Show the traceback of an error too (same exit code)."),
    version: bool | None = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True,
        help="Print the version, the config file, Python and PortAudio."),
) -> None:
    _state["debug"] = debug
    if debug:  # what omnichat logs (failures it survives, the emulator's library) on stderr
        _log_debug()
    if ctx.invoked_subcommand is None:
        typer.echo(OVERVIEW)


# --- commands are registered below, each a thin wrapper over one package function ----------


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback)."),
    port: int = typer.Option(8765, "--port", min=0, max=65535,
                             help="TCP port (0 = any free port)."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="OMNICHAT_SERVE_API_KEY",
                                          help="Require 'Authorization: Bearer KEY'."),
    speed: str = typer.Option("realtime", "--speed", help="realtime, fast, or a factor."),
    reply_script: str | None = typer.Option(None, "--reply-script",
                                               help="File with one reply per line (cycled)."),
    trace: str | None = typer.Option(None, "--trace", help="Write every frame as JSONL."),
    allow_remote: bool = typer.Option(False, "--allow-remote",
                                      help="Allow a non-loopback --host."),
    fault: list[str] = typer.Option(
        [], "--fault", metavar="FAULT",
        # \b keeps click from re-wrapping the list (it would break words at their hyphens).
        help="Inject a fault; repeatable. FAULT is one of:\n\n\b\n"
        "close-after=N[:CODE]\nclose-mid-response[=CODE]\nstall=SECONDS[@AFTER_EVENTS]\n"
        "malformed\nunknown-event\nerror=MESSAGE\nrefuse=STATUS[xTIMES]"),
    cancel_response_done: str | None = typer.Option(
        None, "--cancel-response-done",
        help="Send response.done with this status after a cancel (cancelled, incomplete, ...)."),
    idle_timeout: float = typer.Option(300.0, "--idle-timeout", help="Seconds without a response."),
    max_session: float = typer.Option(7200.0, "--max-session", help="Session cap in seconds."),
    transcription: str = typer.Option(
        "prompt", "--transcription",
        help="When the input transcription is sent: prompt, deltas, after-reply-started, "
        "after-reply-done, failed, never."),
    send_timeout: float = typer.Option(
        5.0, "--send-timeout", help="Drop a client that takes no data for this many seconds."),
    heard_script: str | None = typer.Option(
        None, "--heard-script",
        help="File with what each spoken turn said, one line per turn in order (its "
        "transcription; the replies and tool calls follow it)."),
) -> None:
    """Run the local emulator of the Qwen-Omni-Realtime service."""
    from omnichat.emulator.run import serve as run_serve

    run_serve(host=host, port=port, api_key=api_key, speed=speed, reply_script=reply_script,
              trace=trace, allow_remote=allow_remote, faults=fault,
              cancel_response_done=cancel_response_done, idle_timeout_s=idle_timeout,
              max_session_s=max_session, transcription=transcription,
              send_timeout_s=send_timeout, heard_script=heard_script)


@app.command("devices", short_help="List microphones and speakers.")
def devices_command() -> None:
    """List audio input and output devices (index, name, host API, channels, rate; * = default)."""
    from omnichat.audio.listing import print_devices

    print_devices()


@app.command()
def voices(
    model: str | None = typer.Option(None, "--model", "-m",
                                        help="Model id (default: the configured model)."),
    language: str | None = typer.Option(None, "--language", "-l",
                                           help="Only voices speaking this (e.g. 'english')."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
    find: str | None = typer.Option(None, "--find", "-f", metavar="WORDS",
                                    help="Only voices with these words in their name or "
                                    "description (e.g. 'woman', 'warm', 'Sichuan')."),
    long: bool = typer.Option(False, "--long", help="List every language of each voice."),
) -> None:
    """List the voices a model offers; ● marks the default."""
    from omnichat.voices import list_voices

    list_voices(model, language=language, as_json=as_json, find=find, long=long)


_IMAGE = typer.Option([], "--image", metavar="PATH",
                      help="Show the model a picture with your first words; repeatable.")
_CAMERA = typer.Option(None, "--camera", metavar="[INDEX]",
                       help="Send camera frames when the scene changes; INDEX defaults to 0 "
                       "(needs 'omnichat[camera]').")
_VIDEO = typer.Option(None, "--video", metavar="FILE", help="Send frames of a video file.")
_FRAME_RATE = typer.Option(1.0, "--frame-rate", help="Frames per second at most (<= 1).")
_RECORD = typer.Option(None, "--record", metavar="FILE",
                       help="Keep the conversation as a stereo WAV (you left, replies right).")


# Options talk and ptt share (one definition each; the hidden ones are test knobs).
_LOCAL = typer.Option(False, "--local", help="Talk to the built-in emulator (no key).")
_OUTPUT = typer.Option(None, "--output", help="Write replies to a WAV.")
_TRANSCRIPT = typer.Option(None, "--transcript", help="Transcript JSONL path.")
_INPUT_PACE = typer.Option(1.0, "--input-pace", hidden=True)
_OUTPUT_PACE = typer.Option(1.0, "--output-pace", hidden=True)
_EMULATOR_SPEED = typer.Option("realtime", "--emulator-speed", hidden=True)
_ATTACH = typer.Option([], "--attach", help="Let the model read this text file (repeatable; "
                       "enables read_attachment).")
_TOOLS = typer.Option(None, "--tools", metavar="NAME,...",
                      help="Built-in tools to offer: time, calculator.")
_YES = typer.Option(False, "--yes", help="Run tools that ask first without asking.")
_CONTINUE = typer.Option(False, "--continue", help="Carry on the most recent conversation "
                         "(`omnichat history`): the model is told what was said.")
_RESUME = typer.Option(None, "--resume", metavar="ID", help="Carry on this conversation.")
_EVENTS = typer.Option(None, "--events", metavar="PATH|-", help="Write one JSON object per "
                       "line for each event (docs/events.md); '-' is stdout, and the "
                       "screen output moves to stderr.")


def _resume_ref(carry_on: bool, resume: str | None) -> str | None:
    """``--continue`` means the most recent conversation (``last``), ``--resume`` a given one."""
    from omnichat.errors import UsageError

    if carry_on and resume is not None:
        raise UsageError("--continue and --resume both given; use one")
    return "last" if carry_on else resume


_LOCAL_REPLY_SCRIPT = typer.Option(
    None, "--local-reply-script", help="With --local: the emulator's replies, one per line, "
    "used in turn (docs/emulator.md).")
_LOCAL_HEARD_SCRIPT = typer.Option(
    None, "--local-heard-script", help="With --local: what each spoken turn said, one line "
    "per turn, so speech can call tools (docs/emulator.md).")


def _emulator_options(local: bool, reply_script: Path | None,
                      heard_script: Path | None) -> dict[str, Any] | None:
    from omnichat.emulator.run import local_emulator_options

    return local_emulator_options(local, reply_script, heard_script)


def _tool_options(attach: list[Path], tools: str | None, yes: bool) -> Any:
    from omnichat.session.tools import ToolOptions, parse_tool_names

    return ToolOptions(tuple(attach), parse_tool_names(tools), yes)


def _feed(*, ptt: bool, inputs: list[Path], image: list[Path], camera: int | None,
          video: Path | None, frame_rate: float, record: Path | None) -> Any:
    from omnichat.session.inputs import InputOptions

    return InputOptions(ptt=ptt, inputs=list(inputs), images=list(image), camera=camera,
                        video=video, frame_rate=frame_rate, record=record)


@app.command(short_help="Talk hands-free: speak, listen, interrupt by speaking.")
@setting_flags
def talk(
    local: bool = _LOCAL,
    input_wav: Path | None = typer.Option(None, "--input", help="Speak from this WAV file."),
    output_wav: Path | None = _OUTPUT,
    transcript: Path | None = _TRANSCRIPT,
    image: list[Path] = _IMAGE,
    camera: int | None = _CAMERA,
    video: Path | None = _VIDEO,
    frame_rate: float = _FRAME_RATE,
    record: Path | None = _RECORD,
    input_pace: float = _INPUT_PACE,
    output_pace: float = _OUTPUT_PACE,
    emulator_speed: str = _EMULATOR_SPEED,
    attach: list[Path] = _ATTACH,
    tools: str | None = _TOOLS,
    yes: bool = _YES,
    local_reply_script: Path | None = _LOCAL_REPLY_SCRIPT,
    local_heard_script: Path | None = _LOCAL_HEARD_SCRIPT,
    carry_on: bool = _CONTINUE,
    resume: str | None = _RESUME,
    events: str | None = _EVENTS,
    **settings: Any,
) -> None:
    """Talk hands-free: speak, listen, interrupt by speaking; q or Ctrl+C ends.

    Keys (in a terminal): q end, m mute, Space interrupt, Enter type, / command, ? keys.
    The setting flags (--model, --voice, ...) override the environment and the config file;
    see `omnichat config show`."""
    from omnichat.session.talk import TalkOptions, run_talk

    feed = _feed(ptt=False, inputs=[], image=image, camera=camera, video=video,
                 frame_rate=frame_rate, record=record)
    run_talk(settings_from_flags(settings),
             TalkOptions(local=local, input_wav=input_wav, output_wav=output_wav,
                         transcript=transcript, input_pace=input_pace,
                         output_pace=output_pace, emulator_speed=emulator_speed, feed=feed,
                         tools=_tool_options(attach, tools, yes),
                         emulator_options=_emulator_options(local, local_reply_script,
                                                            local_heard_script),
                         resume=_resume_ref(carry_on, resume), events=events))


@app.command(short_help="Push-to-talk: hold Space (or press twice) to talk.")
@setting_flags
def ptt(
    local: bool = _LOCAL,
    inputs: list[Path] = typer.Option(
        [], "--input", metavar="WAV",
        help="Without a terminal: one turn per file, or one file split on its pauses."),
    output_wav: Path | None = _OUTPUT,
    transcript: Path | None = _TRANSCRIPT,
    image: list[Path] = _IMAGE,
    camera: int | None = _CAMERA,
    video: Path | None = _VIDEO,
    frame_rate: float = _FRAME_RATE,
    record: Path | None = _RECORD,
    input_pace: float = _INPUT_PACE,
    output_pace: float = _OUTPUT_PACE,
    emulator_speed: str = _EMULATOR_SPEED,
    attach: list[Path] = _ATTACH,
    tools: str | None = _TOOLS,
    yes: bool = _YES,
    local_reply_script: Path | None = _LOCAL_REPLY_SCRIPT,
    local_heard_script: Path | None = _LOCAL_HEARD_SCRIPT,
    carry_on: bool = _CONTINUE,
    resume: str | None = _RESUME,
    events: str | None = _EVENTS,
    **settings: Any,
) -> None:
    """Push-to-talk: hold Space while you speak (or press it to start and again to send).

    Esc drops a recording, Space interrupts the model, q ends, m mutes, Enter types, / command,
    ? shows the keys. Manual turns: nothing is sent while Space is up."""
    from omnichat.session.talk import TalkOptions, run_talk

    feed = _feed(ptt=True, inputs=inputs, image=image, camera=camera, video=video,
                 frame_rate=frame_rate, record=record)
    flags = {**settings_from_flags(settings), "turn_detection": "manual"}
    run_talk(flags, TalkOptions(local=local, output_wav=output_wav, transcript=transcript,
                                input_pace=input_pace, output_pace=output_pace,
                                emulator_speed=emulator_speed, feed=feed,
                                tools=_tool_options(attach, tools, yes),
                                emulator_options=_emulator_options(
                                    local, local_reply_script, local_heard_script),
                                resume=_resume_ref(carry_on, resume), events=events))


@app.command(short_help="Ask one typed question; the reply is printed and spoken.")
@setting_flags
def ask(
    question: str = typer.Argument(..., metavar="QUESTION|-",
                                   help="The question; '-' reads it from standard input."),
    local: bool = _LOCAL,
    output_wav: Path | None = _OUTPUT,
    transcript: Path | None = _TRANSCRIPT,
    carry_on: bool = _CONTINUE,
    resume: str | None = _RESUME,
    events: str | None = _EVENTS,
    output_pace: float = _OUTPUT_PACE,
    emulator_speed: str = _EMULATOR_SPEED,
    local_reply_script: Path | None = _LOCAL_REPLY_SCRIPT,
    **settings: Any,
) -> None:
    """Ask one typed question: the reply's text streams to stdout and the spoken reply
    plays; exit 0 on an answer. Notices go to stderr. With --continue or --resume ID the
    question carries on a conversation (`omnichat history`)."""
    from omnichat.session.ask import AskOptions, run_ask

    run_ask(settings_from_flags(settings), question,
            AskOptions(local=local, output_wav=output_wav, transcript=transcript,
                       resume=_resume_ref(carry_on, resume), events=events,
                       output_pace=output_pace, emulator_speed=emulator_speed,
                       emulator_options=_emulator_options(local, local_reply_script, None)))


@app.command("tools", short_help="List the tools the model may call, and their sources.")
def tools_command(
    attach: list[Path] = typer.Option([], "--attach", help="As for talk: offer this file."),
    tools: str | None = typer.Option(None, "--tools", metavar="NAME,...",
                                     help="As for talk: the built-in tools to offer."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
    model: str | None = typer.Option(None, "--model", "-m",
                                     help="For this model (default: the configured model)."),
) -> None:
    """List every tool (built-in, attachment, MCP servers' tools, and the [mcp.remote]
    servers the service calls): source, on or off, asks first. MCP servers are started to
    list their tools."""
    from omnichat.config.settings import load_settings
    from omnichat.session.tools import ToolOptions, parse_tool_names, show_tools

    show_tools(load_settings({"model": model}), ToolOptions(tuple(attach),
                                                            parse_tool_names(tools)),
               as_json=as_json)


@app.command(short_help="Measure latency, playback health, CPU and memory on this machine.")
def bench(
    local: bool = typer.Option(False, "--local", help="Against the built-in emulator (no key)."),
    region: str | None = typer.Option(None, "--region", help="Service region (intl, cn, ...)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the figures here."),
    turns: int = typer.Option(3, "--turns", help="Questions answered in full."),
    barge_ins: int = typer.Option(1, "--barge-ins", help="Questions interrupted."),
    speak_into: str | None = typer.Option(
        None, "--speak-into", help="Play the questions into this PulseAudio sink "
        "(@DEFAULT_SINK@: through the speakers to the microphone)."),
    input_wav: Path | None = typer.Option(None, "--input", help="Speak from this WAV file."),
    long: bool = typer.Option(False, "--long", help="Add a 2-hour memory run, time-compressed."),
    startup_runs: int = typer.Option(5, "--startup-runs", hidden=True),
) -> None:
    """Measure what a user hears and when: microphone to wire, wire to ear, barge-in, end of
    speech to reply, playback health, CPU, memory, start-up; see docs/benchmarks-latency.md."""
    from omnichat.bench.command import BenchOptions, run_bench

    run_bench({"region": region} if region else {},
              BenchOptions(local=local, json_path=json_path, turns=turns, barge_ins=barge_ins,
                           speak_into=speak_into, input_wav=input_wav, long=long,
                           startup_runs=startup_runs))


@app.command(short_help="Check audio, config, keys and the connection.")
def doctor(
    local: bool = typer.Option(False, "--local", help="Check the connection to the built-in "
                               "emulator instead of the service."),
    echo: bool = typer.Option(False, "--echo", help="Measure the echo from the speaker to the "
                              "microphone and recommend an echo_mode (plays a 2 s sound)."),
    save: bool = typer.Option(False, "--save", help="With --echo: write the recommended "
                              "echo_mode into the config file."),
) -> None:
    """Check PortAudio, the devices, the config, the keys and the connection; one line each,
    ok or the fix. The exit status is non-zero if a check failed (3: only audio failed)."""
    from omnichat.doctor import run_doctor
    from omnichat.errors import UsageError

    if save and not echo:
        raise UsageError("--save writes what --echo measured; use 'omnichat doctor --echo --save'")
    code = run_doctor(None, local=local, echo=echo, save=save, out=sys.stdout)
    if code:
        raise typer.Exit(code)


config_app = typer.Typer(help="Create, inspect and locate the configuration file.",
                         invoke_without_command=True, rich_markup_mode=None)
app.add_typer(config_app, name="config")


@config_app.callback()
def _config_root(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:  # `omnichat config` alone: its help, not an error
        typer.echo(ctx.get_help())


@config_app.command("init")
def config_init(
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Write a commented starter config file."""
    from omnichat.config.commands import init_config
    from omnichat.config.settings import config_path

    typer.echo(f"wrote {init_config(config_path(), force=force)}")


@config_app.command("show", short_help="Print the settings in effect and their sources.")
def config_show() -> None:
    """Print the settings in effect and where each comes from (the API key stays hidden)."""
    from omnichat.config.commands import show_lines
    from omnichat.config.settings import config_path, load_settings

    typer.echo("\n".join(show_lines(load_settings(), looked_at=config_path())))


@config_app.command("path")
def config_path_command() -> None:
    """Print where the config file is (or would be)."""
    from omnichat.config.settings import config_path

    typer.echo(str(config_path()))


history_app = typer.Typer(help="List, show, export and remove past conversations.",
                          invoke_without_command=True, rich_markup_mode=None,
                          context_settings=_CONTEXT)
app.add_typer(history_app, name="history")
_HISTORY_JSON = typer.Option(False, "--json", help="Print the list as a JSON array.")
_HISTORY_LIMIT = typer.Option(None, "--limit", min=1, help="Only the newest N.")


@history_app.callback()
def _history_root(ctx: typer.Context, as_json: bool = _HISTORY_JSON,
                  limit: int | None = _HISTORY_LIMIT) -> None:
    """List past conversations, the most recently active first (see `history show`)."""
    if ctx.invoked_subcommand is None:
        from omnichat.history.command import list_history

        list_history(as_json=as_json, limit=limit)


@history_app.command("list")
def history_list(as_json: bool = _HISTORY_JSON, limit: int | None = _HISTORY_LIMIT) -> None:
    """List past conversations: id, start, model, voice, turns, length, tokens, first words."""
    from omnichat.history.command import list_history

    list_history(as_json=as_json, limit=limit)


@history_app.command("show")
def history_show(
    conversation: str = typer.Argument(..., metavar="ID|last"),
    form: str = typer.Option("text", "--format", help="text, md or jsonl."),
) -> None:
    """Print one conversation, each turn with its time; an unheard part of a reply is marked."""
    from omnichat.history.command import show_history

    show_history(conversation, form)


@history_app.command("rm")
def history_rm(conversation: str = typer.Argument(..., metavar="ID|last")) -> None:
    """Delete one conversation's transcript."""
    from omnichat.history.command import remove_history

    remove_history(conversation)


@history_app.command("path")
def history_path_command() -> None:
    """Print the folder the conversations are kept in (transcript_dir)."""
    from omnichat.history.command import history_path

    history_path()


def main() -> None:
    """Console-script entry point."""
    app(args=camera_index_default(sys.argv[1:]), prog_name="omnichat")


def camera_index_default(args: list[str]) -> list[str]:
    """``--camera`` without a value means camera 0 (click has no optional option values)."""
    out: list[str] = []
    for index, arg in enumerate(args):
        out.append(arg)
        following = args[index + 1] if index + 1 < len(args) else None
        if arg == "--camera" and (following is None or following.startswith("-")):
            out.append("0")
    return out


if __name__ == "__main__":  # pragma: no cover
    main()
