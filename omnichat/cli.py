"""The Typer front-end: turns flags into settings and calls one function per command.

Every ``OmnichatError`` is translated here, in ``_OmnichatGroup.invoke``, into one line on
stderr and its exit code; ``--debug`` re-raises so the traceback shows. A bad flag (click's
``UsageError``) is one line and exit 2 too, instead of Typer's multi-line panel. Typer never
prints local variables (they may hold the API key).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from typer.core import TyperGroup

try:  # Typer 0.2x vendors its own click; its usage errors are not click's
    from typer._click.exceptions import NoArgsIsHelpError
    from typer._click.exceptions import UsageError as FlagError
except ImportError:  # pragma: no cover - Typer on the public click
    from click.exceptions import NoArgsIsHelpError
    from click.exceptions import UsageError as FlagError

from omnichat import __version__
from omnichat.errors import ExitCode, OmnichatError
from omnichat.sanitize import clean_text

_state = {"debug": False}


def _usage_line(exc: FlagError) -> typer.Exit:
    """Print a bad flag or argument as one line naming the command and where help is."""
    command = exc.ctx.command_path if exc.ctx is not None else "omnichat"
    message = clean_text(exc.format_message(), keep_newlines=False).rstrip(".")
    typer.echo(f"omnichat: error: {message}; see '{command} --help'", err=True)
    return typer.Exit(int(ExitCode.USAGE))


class _OmnichatGroup(TyperGroup):
    """A click group that turns expected failures into one clean line and an exit code."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except NoArgsIsHelpError:
            raise
        except FlagError as exc:  # a bad root option, e.g. `omnichat --bogus`
            raise _usage_line(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except FlagError as exc:  # a bad subcommand, flag or flag value
            raise _usage_line(exc) from None
        except OmnichatError as exc:
            if _state["debug"]:
                raise
            typer.echo(f"omnichat: error: {clean_text(str(exc), keep_newlines=False)}", err=True)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            if _state["debug"]:
                raise
            typer.echo("omnichat: interrupted", err=True)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


app = typer.Typer(
    cls=_OmnichatGroup,
    help="Talk with Qwen-Omni-Realtime models from the terminal.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"omnichat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    version: bool | None = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    _state["debug"] = debug


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
        [], "--fault", help="Inject a fault (repeatable): close-after=N[:CODE], "
        "close-mid-response[=CODE], stall=SECONDS[@AFTER_EVENTS], malformed, unknown-event, "
        "error=MESSAGE, refuse=STATUS[xTIMES]."),
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
) -> None:
    """Run the local emulator of the Qwen-Omni-Realtime service."""
    from omnichat.emulator.run import serve as run_serve

    run_serve(host=host, port=port, api_key=api_key, speed=speed, reply_script=reply_script,
              trace=trace, allow_remote=allow_remote, faults=fault,
              cancel_response_done=cancel_response_done, idle_timeout_s=idle_timeout,
              max_session_s=max_session, transcription=transcription,
              send_timeout_s=send_timeout)


@app.command("devices")
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
) -> None:
    """List the voices a model offers."""
    from omnichat.voices import list_voices

    list_voices(model, language=language, as_json=as_json)


@app.command()
def talk(
    region: str | None = typer.Option(None, "--region", help="Service region (intl, cn)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model id."),
    voice: str | None = typer.Option(None, "--voice", help="Voice of the replies."),
    instructions: str | None = typer.Option(None, "--instructions", help="System prompt."),
    local: bool = typer.Option(False, "--local", help="Talk to the built-in emulator (no key)."),
    input_wav: Path | None = typer.Option(None, "--input", help="Speak from this WAV file."),
    output_wav: Path | None = typer.Option(None, "--output", help="Write replies to a WAV."),
    transcript: Path | None = typer.Option(None, "--transcript", help="Transcript JSONL path."),
    text_only: bool = typer.Option(False, "--text-only", help="Text replies only, no audio."),
    search: bool = typer.Option(False, "--search", help="Let the model search the web."),
    input_device: str | None = typer.Option(None, "--input-device", help="Index or name."),
    output_device: str | None = typer.Option(None, "--output-device", help="Index or name."),
    input_pace: float = typer.Option(1.0, "--input-pace", hidden=True),
    output_pace: float = typer.Option(1.0, "--output-pace", hidden=True),
    emulator_speed: str = typer.Option("realtime", "--emulator-speed", hidden=True),
) -> None:
    """Talk hands-free: speak, listen, interrupt by speaking; Ctrl+C ends."""
    from omnichat.talk import TalkOptions, run_talk

    flags = {"region": region, "model": model, "voice": voice, "instructions": instructions,
             "enable_search": search or None, "input_device": input_device,
             "output_device": output_device}
    run_talk(flags, TalkOptions(local=local, input_wav=input_wav, output_wav=output_wav,
                                transcript=transcript, input_pace=input_pace,
                                output_pace=output_pace, emulator_speed=emulator_speed),
             text_only=text_only)


config_app = typer.Typer(help="Create, inspect and locate the configuration file.",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("init")
def config_init(force: bool = typer.Option(False, "--force", help="Replace an existing file.")):
    """Write a commented starter config file."""
    from omnichat.config import config_path
    from omnichat.config_commands import init_config

    typer.echo(f"wrote {init_config(config_path(), force=force)}")


@config_app.command("show")
def config_show() -> None:
    """Print the settings in effect and where each comes from (the API key stays hidden)."""
    from omnichat.config import config_path, load_settings
    from omnichat.config_commands import show_lines

    typer.echo("\n".join(show_lines(load_settings(), looked_at=config_path())))


@config_app.command("path")
def config_path_command() -> None:
    """Print where the config file is (or would be)."""
    from omnichat.config import config_path

    typer.echo(str(config_path()))


def main() -> None:
    """Console-script entry point."""
    app(prog_name="omnichat")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
