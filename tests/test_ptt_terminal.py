"""The terminal is given back as it was on every way a session ends (Ctrl+C, an error,
SIGTERM), and ``ptt --input`` takes turns from files when there is no terminal."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path

import numpy as np
import pexpect
import pytest
from pty_session import config_for, loud_wav, omnichat_args, speech_then_silence, write_wav
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.transcript import read_transcript

pytestmark = pytest.mark.timeout(60)


def _shell(emu, tmp_path: Path, command: str, reconnect_attempts: int = 8) -> pexpect.spawn:
    """``stty -g`` before and after omnichat, in one shell on one pseudo-terminal."""
    args = " ".join(shlex.quote(a) for a in [sys.executable, *omnichat_args(command, tmp_path)])
    script = (f"trap true INT TERM; stty -g > before.txt; {args}; echo rc=$? > rc.txt; "
              "stty -g > after.txt; echo SHELL-DONE")
    child = pexpect.spawn("/bin/sh", ["-c", script],
                          env=config_for(emu, tmp_path, reconnect_attempts),
                          dimensions=(40, 200), encoding="utf-8", timeout=20,
                          cwd=str(tmp_path))
    child.expect_exact("keys:")
    return child


def _omnichat_pid(shell_pid: int) -> int:
    children = Path(f"/proc/{shell_pid}/task/{shell_pid}/children").read_text().split()
    return int(children[0])


def _restored(child: pexpect.spawn, tmp_path: Path) -> str:
    child.expect_exact("SHELL-DONE")
    child.expect(pexpect.EOF)
    before = (tmp_path / "before.txt").read_text()
    after = (tmp_path / "after.txt").read_text()
    assert before.strip() and before == after  # cbreak and echo undone, every flag as it was
    return (tmp_path / "rc.txt").read_text().strip()


def test_ctrl_c_restores_the_terminal(make_emulator, tmp_path):
    child = _shell(make_emulator(), tmp_path, "ptt")
    child.send("\x03")
    assert _restored(child, tmp_path) == "rc=130"


def test_sigterm_restores_the_terminal(make_emulator, tmp_path):
    child = _shell(make_emulator(), tmp_path, "ptt")
    pexpect_pid = child.pid
    import os

    os.kill(_omnichat_pid(pexpect_pid), signal.SIGTERM)
    assert _restored(child, tmp_path) != "rc=0"


def test_an_error_restores_the_terminal(make_emulator, tmp_path):
    emu = make_emulator()
    child = _shell(emu, tmp_path, "ptt", reconnect_attempts=0)  # no retries: fail at once
    emu.close()  # the service goes away mid-session: ConnectionLost
    child.expect_exact("omnichat: error:")
    rc = _restored(child, tmp_path)
    assert rc not in ("rc=0", "rc=130")


# ---- ptt without a terminal: --input drives the turns ----------------------------------------


def _ptt_files(tmp_path: Path, *files: Path) -> tuple[int, list[dict], str]:
    args = ["ptt", "--local", "--emulator-speed", "fast", "--input-pace", "0",
            "--output", str(tmp_path / "out.wav"), "--output-pace", "0",
            "--transcript", str(tmp_path / "t.jsonl")]
    for path in files:
        args += ["--input", str(path)]
    result = CliRunner().invoke(app, args)
    path = tmp_path / "t.jsonl"
    turns = read_transcript(path) if path.exists() else []  # turns, not session records
    return result.exit_code, turns, result.output


def test_ptt_takes_one_turn_per_input_file_and_skips_a_silent_one(tmp_path):
    first = loud_wav(tmp_path / "a.wav", 1.0)
    silent = write_wav(tmp_path / "silent.wav", np.zeros(16_000, np.int16))
    second = loud_wav(tmp_path / "b.wav", 2.0)
    code, turns, output = _ptt_files(tmp_path, first, silent, second)
    assert code == 0, output
    assert "not sent: nothing heard" in output
    assert [(t["role"], t.get("text")) for t in turns if t["role"] == "user"] == [
        ("user", "[1.0 s of speech]"), ("user", "[2.0 s of speech]")]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]


def test_ptt_splits_one_file_on_its_pauses(tmp_path):
    one = speech_then_silence(tmp_path / "one.wav", 1.0, 1.5)
    two = loud_wav(tmp_path / "two.wav", 1.0)
    with_pause = np.concatenate([_pcm(one), _pcm(two)])
    code, turns, output = _ptt_files(tmp_path, write_wav(tmp_path / "both.wav", with_pause))
    assert code == 0, output
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]


def _pcm(path: Path) -> np.ndarray:
    import wave

    with wave.open(str(path), "rb") as handle:
        return np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")


def test_ctrl_z_gives_the_terminal_back_and_fg_takes_it_again(make_emulator, tmp_path):
    """A job-control shell: Ctrl+Z stops omnichat with the terminal as it was, ``fg`` puts
    it back in cbreak, and the session goes on."""
    emu = make_emulator()
    args = " ".join(shlex.quote(a) for a in [sys.executable, *omnichat_args("ptt", tmp_path)])
    script = (f"set -m; stty -g > before.txt; {args}; stty -g > stopped.txt; echo STOPPED; "
              "fg > /dev/null; echo rc=$? > rc.txt; stty -g > after.txt; echo SHELL-DONE")
    child = pexpect.spawn("/bin/bash", ["--norc", "-c", script], env=config_for(emu, tmp_path),
                          dimensions=(40, 200), encoding="utf-8", timeout=20,
                          cwd=str(tmp_path))
    child.expect_exact("keys:")
    child.send("\x1a")  # Ctrl+Z
    child.expect_exact("STOPPED")
    assert (tmp_path / "stopped.txt").read_text() == (tmp_path / "before.txt").read_text()
    child.expect_exact("\x1b[?u")  # fg: cbreak and the keyboard protocol again
    child.send("q")
    child.expect_exact("\x1b[<u")  # the keyboard protocol popped on the way out
    assert _restored(child, tmp_path) == "rc=0"


def test_a_sigcont_without_our_stop_leaves_the_terminal_alone():
    """Regression: the kernel sends SIGCONT with SIGHUP on a hang-up; re-entering cbreak on a
    dead terminal raised inside the signal handler and cut the session's unwinding short."""
    import os
    import pty
    import termios

    from omnichat.terminal.keyboard import TerminalMode

    master, slave = pty.openpty()
    with open(slave, closefd=False) as stdin, open(slave, "w", closefd=False) as stdout:
        mode = TerminalMode(stdin, stdout)
        with mode:
            mode.restore()  # as on the way out
            mode._on_continue(signal.SIGCONT, None)
            assert termios.tcgetattr(slave)[3] & termios.ICANON  # not put back in cbreak
            os.close(master)
            os.close(slave)
            mode._suspended = True  # even after our own stop: a dead terminal does not raise
            mode._on_continue(signal.SIGCONT, None)


def test_talk_with_manual_turns_in_the_config_runs_as_push_to_talk(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[turn_detection]\ntype = "manual"\n', encoding="utf-8")
    monkeypatch.setenv("OMNICHAT_CONFIG", str(config))
    silent = write_wav(tmp_path / "silent.wav", np.zeros(16_000, np.int16))
    result = CliRunner().invoke(app, [
        "talk", "--local", "--emulator-speed", "fast", "--input", str(silent),
        "--input-pace", "0", "--output", str(tmp_path / "o.wav"), "--output-pace", "0",
        "--transcript", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 0, result.output
    assert "not sent: nothing heard" in result.output  # push-to-talk's check, not the VAD
