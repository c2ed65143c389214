"""``omnichat doctor`` through the real entry point on the virtual sound card: the checks and
their exit status, ``--echo`` with the speaker-to-mic echo path on and off, ``--save``."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.config.settings import config_path
from omnichat.echo.canceller import canceller_available
from omnichat.errors import ExitCode

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omnichat", "doctor", *args],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_doctor_local_passes_and_without_a_key_it_fails(virtual_audio):
    ok = _doctor("--local")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok  connection: local emulator answered with session.created" in ok.stdout
    assert all(line.startswith(("ok  ", "FIX ")) for line in ok.stdout.splitlines())
    no_key = _doctor()  # the service, and no DASHSCOPE_API_KEY in the test environment
    assert no_key.returncode == 1, no_key.stdout
    assert ("FIX key intl: missing: set DASHSCOPE_API_KEY to a key made in Model Studio for "
            "region intl (README, \"Getting a key\")") in no_key.stdout
    assert "Traceback" not in no_key.stderr


def test_doctor_echo_on_speakers_recommends_a_mode_and_saves_it(virtual_audio):
    """(The echo path off, "none heard" and "off", is checked on run_doctor in test_doctor.)"""
    virtual_audio.echo(True, 0.6)
    try:
        result = _doctor("--local", "--echo", "--save")
    finally:
        virtual_audio.echo(False)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\s+echo: delay \d+ ms .* level -[\d.]+ dB", result.stdout, re.M)
    want = "aec" if canceller_available() else "gate"
    assert f'recommended echo_mode = "{want}"' in result.stdout
    assert tomllib.loads(config_path().read_text())["audio"]["echo_mode"] == want


def test_save_without_echo_is_a_usage_error():
    result = CliRunner().invoke(app, ["doctor", "--save"])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.count("\n") == 1 and "--echo --save" in result.stderr
