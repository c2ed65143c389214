"""The CLI's one error handler: expected failures are one clean line and an exit code, never a
traceback or local variables; --debug shows the traceback; --version and python -m work."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from omnichat import __version__, cli
from omnichat.cli import _OmnichatGroup, app
from omnichat.config.settings import config_path
from omnichat.errors import AudioDeviceError, AuthFailed, ExitCode

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]

runner = CliRunner()


def _app_raising(exc: BaseException) -> typer.Typer:
    probe = typer.Typer(cls=_OmnichatGroup, pretty_exceptions_show_locals=False)

    @probe.command()
    def boom() -> None:
        secret_key = "sk-must-not-leak-1234"  # noqa: F841 - a local a crash dump would show
        raise exc

    @probe.command()
    def other() -> None:
        pass

    return probe


def test_expected_error_is_one_clean_line_with_its_exit_code():
    message = "the service refused the key for region intl\x1b[31m; set DASHSCOPE_API_KEY"
    result = runner.invoke(_app_raising(AuthFailed(message)), ["boom"])
    assert result.exit_code == ExitCode.AUTH
    lines = result.output.strip().splitlines()
    assert lines == ["omnichat: error: the service refused the key for region intl; "
                     "set DASHSCOPE_API_KEY"]
    assert "Traceback" not in result.output and "sk-must-not-leak" not in result.output


def test_keyboard_interrupt_exits_130_without_traceback():
    result = runner.invoke(_app_raising(KeyboardInterrupt()), ["boom"])
    assert result.exit_code == 130
    assert "Traceback" not in result.output


def test_unknown_model_is_a_usage_error_with_exit_2():
    result = runner.invoke(app, ["voices", "--model", "gpt-4o"])
    assert result.exit_code == 2
    assert "unknown model 'gpt-4o'" in result.output
    assert "qwen3.5-omni-plus-realtime" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_debug_flag_shows_the_traceback_and_keeps_the_exit_code():
    debug = subprocess.run([sys.executable, "-m", "omnichat", "--debug", "voices", "--model",
                            "nope"], capture_output=True, text=True, timeout=60)
    assert debug.returncode == 2, debug.stderr  # was 1: --debug re-raised
    assert "Traceback" in debug.stderr and "UsageError" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith("omnichat: error: unknown model")


def test_debug_keeps_the_code_of_a_refused_key(monkeypatch):
    monkeypatch.setitem(cli._state, "debug", True)
    result = runner.invoke(_app_raising(AuthFailed("the service refused the key")), ["boom"])
    assert result.exit_code == ExitCode.AUTH == 5
    assert "Traceback" in result.stderr and "sk-must-not-leak" not in result.output


def test_version_names_the_config_python_and_portaudio():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"omnichat {__version__}"
    assert lines[1].startswith(f"config: {config_path()}")
    assert lines[2].startswith(f"python: {platform.python_version()} (")
    assert lines[3].startswith("portaudio: ") and len(lines[3]) > len("portaudio: ")


COMMAND_PATHS = [[], ["talk"], ["serve"], ["voices"], ["devices"], ["config"],
                 ["config", "init"], ["config", "show"], ["config", "path"]]


@pytest.mark.parametrize("path", COMMAND_PATHS)
def test_dash_h_is_help_everywhere_and_switches_take_no_value(path):
    result = runner.invoke(app, [*path, "-h"], terminal_width=80, prog_name="omnichat")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(" ".join(["Usage: omnichat", *path]))
    assert "<bool>" not in result.output  # a switch is shown as a plain flag
    assert all(len(line) <= 80 for line in result.output.splitlines()), result.output
    assert "…" not in result.output


def test_talk_switches_are_plain_flags():
    lines = runner.invoke(app, ["talk", "--help"], terminal_width=80).output.splitlines()
    for flag in ("--local", "--text-only", "--search", "--allow-insecure"):
        line = next(line for line in lines if line.strip().startswith(flag))
        assert line.split()[0] == flag and line.split()[1][0].isupper(), line


def test_serve_help_lists_every_fault_whole_at_80_columns():
    output = runner.invoke(app, ["serve", "--help"], terminal_width=80).output
    lines = [line.strip() for line in output.splitlines()]
    for fault in ("close-after=N[:CODE]", "close-mid-response[=CODE]",
                  "stall=SECONDS[@AFTER_EVENTS]", "malformed", "unknown-event",
                  "error=MESSAGE", "refuse=STATUS[xTIMES]"):
        assert fault in lines, fault


def test_a_mistyped_command_suggests_without_stray_punctuation():
    result = runner.invoke(app, ["tlak"], prog_name="omnichat")
    assert result.exit_code == 2
    assert result.stderr == ("omnichat: error: No such command 'tlak'. Did you mean 'talk'? "
                             "See 'omnichat --help'\n")


def test_no_arguments_shows_the_overview_and_exits_0():
    result = runner.invoke(app, [])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("omnichat: talk with Qwen-Omni-Realtime models")
    for command in ("omnichat talk --local", "omnichat voices", "omnichat config init"):
        assert command in result.output
    assert all(len(line) <= 80 for line in result.output.splitlines())


def test_config_without_a_subcommand_shows_its_commands_and_exits_0():
    result = runner.invoke(app, ["config"], prog_name="omnichat")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: omnichat config")
    assert all(f"  {name}  " in result.stdout for name in ("init", "show", "path"))


def test_shell_completion_installs_and_completes(isolated_environment):
    result = runner.invoke(app, ["--install-completion", "bash"], prog_name="omnichat")
    assert result.exit_code == 0, result.output
    script = isolated_environment / ".bash_completions" / "omnichat.sh"
    assert "_omnichat_completion" in script.read_text()
    assert str(script) in (isolated_environment / ".bashrc").read_text()
    env = {**os.environ, "_OMNICHAT_COMPLETE": "complete_bash", "COMP_WORDS": "omnichat ta",
           "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-m", "omnichat"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.split() == ["talk"], done


def test_a_pipe_closed_by_the_reader_ends_quietly_with_0_from_the_real_entry_point():
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `omnichat voices | head -1` once head has exited
    try:
        done = subprocess.run([sys.executable, "-m", "omnichat", "voices"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")  # was 1


@pytest.mark.parametrize("args", [["voices", "--json"], ["config", "show"], ["--version"],
                                  ["--help"], ["talk", "-h"], []])
def test_every_printing_command_ends_quietly_on_a_closed_pipe(args, monkeypatch, capsys):
    read_end, write_end = os.pipe()
    os.close(read_end)
    stdout = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        with pytest.raises(SystemExit) as info:
            app(args, prog_name="omnichat")
    finally:
        monkeypatch.undo()
        stdout.close()
    assert info.value.code == 0
    assert capsys.readouterr().err == ""


def test_device_messages_do_not_send_the_user_to_flags_that_do_not_help(monkeypatch):
    from omnichat.audio import devices, listing

    def no_portaudio():
        raise AudioDeviceError(devices._NO_PORTAUDIO) from OSError("no libportaudio")

    monkeypatch.setattr(devices, "sounddevice_module", no_portaudio)
    monkeypatch.setattr(listing, "list_devices", devices.list_devices)
    result = runner.invoke(app, ["devices"])
    assert result.exit_code == ExitCode.AUDIO
    assert "libportaudio2" in result.stderr
    assert "--local" not in result.stderr and "--input" not in result.stderr
    monkeypatch.setattr(listing, "list_devices", lambda: [])
    result = runner.invoke(app, ["devices"])
    assert "--local" not in result.stderr and "--input" not in result.stderr
    monkeypatch.setattr(devices, "list_devices", lambda: [])
    with pytest.raises(AudioDeviceError) as info:  # what `talk --local` shows without a device
        devices.resolve_device(None, "input")
    assert "--local" not in str(info.value) and "--input and --output" in str(info.value)


def test_editable_install_is_declared_flat_so_setuptools_does_not_warn():
    """setuptools warns about same-named folders only when it needs its import finder; a
    declared flat layout gets a plain .pth file (checked by hand with a fresh `make venv`)."""
    document = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert document["tool"]["setuptools"]["package-dir"] == {"": "."}


def test_bad_flags_are_one_line_with_exit_2_not_a_panel():
    for args, expected in [
        (["serve", "--port", "99999"], "'--port'"),
        (["serve", "--port", "abc"], "'--port'"),
        (["serve", "--bogus"], "--bogus"),
        (["--bogus"], "--bogus"),
        (["bogus"], "'bogus'"),
        (["config", "bogus"], "'bogus'"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("omnichat: error: "), (args, lines)
        assert expected in lines[0] and "--help'" in lines[0], (args, lines)
        assert "╭" not in result.output and "Traceback" not in result.output


def test_ctrl_c_while_the_cli_is_still_loading_is_exit_130_without_traceback(monkeypatch, capsys):
    import types

    from omnichat.__main__ import main

    loading = types.ModuleType("omnichat.cli")

    def __getattr__(name):  # what an interrupted import of the CLI looks like to main()
        raise KeyboardInterrupt

    loading.__getattr__ = __getattr__
    monkeypatch.setitem(sys.modules, "omnichat.cli", loading)
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 130
    assert capsys.readouterr().err == "omnichat: interrupted\n"


def test_help_lists_the_commands_as_a_user_meets_them():
    result = runner.invoke(app, ["--help"])
    listed = [line.split()[0] for line in
              result.output.split("Commands:\n", 1)[1].splitlines() if line.strip()]
    assert listed == ["talk", "ptt", "ask", "history", "voices", "devices", "doctor", "tools",
                      "config", "bench", "serve"]


@pytest.mark.parametrize("command", ["talk", "ptt", "voices", "tools", "bench", "serve",
                                     "doctor", "devices"])
def test_every_option_value_is_named_in_one_style(command):
    """No Python types (``<list[Path]>``, ``<str>``): a capitalised word for what to give,
    the same word for the same option in every command."""
    import re

    text = runner.invoke(app, [command, "--help"], terminal_width=200).output
    assert not re.search(r"<[a-zA-Z][^>]*>", text), text
    for option, metavar in re.findall(r"^\s+(?:-\w, )?(--[a-z-]+) ([A-Z][A-Z_,.]*)\b", text,
                                      re.MULTILINE):
        assert metavar == {"--input": "WAV", "--attach": "FILE", "--model": "MODEL"}.get(
            option, metavar), (option, metavar)
