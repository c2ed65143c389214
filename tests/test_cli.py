"""The CLI's one error handler: expected failures are one clean line and an exit code, never a
traceback or local variables; --debug shows the traceback; --version and python -m work."""

from __future__ import annotations

import subprocess
import sys

import typer
from typer.testing import CliRunner

from omnichat import __version__
from omnichat.cli import _OmnichatGroup, app
from omnichat.errors import AuthFailed, ExitCode

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
    assert lines == ["omnichat: error: the service refused the key for region intl; set DASHSCOPE_API_KEY"]
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


def test_debug_flag_shows_the_traceback_through_the_real_entry_point():
    plain = subprocess.run([sys.executable, "-m", "omnichat", "voices", "--model", "nope"],
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    debug = subprocess.run([sys.executable, "-m", "omnichat", "--debug", "voices", "--model", "nope"],
                           capture_output=True, text=True, timeout=60)
    assert debug.returncode != 0 and "UsageError" in debug.stderr


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"omnichat {__version__}"


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

    import pytest

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
