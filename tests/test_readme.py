"""Every command the README shows is run here, as written, and its exit code checked.

Commands are taken from the README's ``sh`` code blocks and from the first column of its
"Commands" table. Each one must have a runner below, so a command added to the README without
a test fails this file. The commands run against the project's own emulator: ``--local`` ones
as they are, and ones meant for the real service with a config file whose region URLs point
at an emulator on 127.0.0.1 and a made-up key. Sessions that use the microphone run on the
virtual sound card and are ended with Ctrl+C (SIGINT) once they are listening, as a user ends
them. The README's TOML example must be a valid config.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from subprocess_support import read_until
from test_engine_support import write_wav

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
KEY = "sk-readme-test-key-0123456789"
FAST = ["--input-pace", "8", "--emulator-speed", "fast", "--output-pace", "8"]


def readme_commands() -> list[str]:
    """Shell lines of the ``sh`` blocks (comments dropped) and the Commands table's commands."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for row in re.findall(r"^\| ([^|]+) \|", table, re.M):
        cells = re.findall(r"`([^`]+)`", row)  # `omnichat config init` / `show` / `path`
        if cells and cells[0].startswith("omnichat"):
            commands.append(cells[0])
            prefix = cells[0].rsplit(" ", 1)[0]
            commands.extend(f"{prefix} {word}" for word in cells[1:])
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    commands.extend(re.findall(r"`(omnichat [^`]+)`", prose))
    return list(dict.fromkeys(commands))


def readme_toml() -> str:
    return re.findall(r"```toml\n(.*?)```", README, re.S)[0]


# ---- how each command is run -------------------------------------------------------------


class Context:
    """Paths and environment for one command: an isolated home, a config pointing the
    regions at a local emulator, the virtual sound card's devices."""

    def __init__(self, tmp_path: Path, emulator_url: str):
        self.tmp = tmp_path
        self.config = tmp_path / "config.toml"
        self.config.write_text(f'[regions.intl]\nurl = "{emulator_url}"\n'
                               f'[regions.cn]\nurl = "{emulator_url}"\n')
        self.env = {**os.environ, "OMNICHAT_CONFIG": str(self.config),
                    "DASHSCOPE_API_KEY": KEY, "SHELL": "/bin/bash"}

    def popen(self, args: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "omnichat", *args], cwd=self.tmp,
                                env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run(self, args: list[str], timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "omnichat", *args], cwd=self.tmp,
                              env=self.env, capture_output=True, text=True, timeout=timeout_s)


def _args(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[0] == "omnichat"
    return words[1:]


def _until_listening_then_ctrl_c(ctx: Context, command: str, ready: str = "listening") -> None:
    proc = ctx.popen(_args(command))
    try:
        read_until(proc, ready, 30)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and KEY not in out + err


def _exits_zero(ctx: Context, command: str) -> subprocess.CompletedProcess[str]:
    result = ctx.run(_args(command))
    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout + result.stderr
    return result


def _files_session(ctx: Context, command: str) -> None:
    """``--input q.wav --output a.wav``: the files named in the README, in a scratch dir."""
    write_wav(ctx.tmp / "q.wav", ctx.question)  # type: ignore[attr-defined]
    result = ctx.run([*_args(command), "--transcript", "t.jsonl", *FAST])
    assert result.returncode == 0, result.stderr
    assert (ctx.tmp / "a.wav").stat().st_size > 44 and "qwen:" in result.stdout


def _make_target(ctx: Context, command: str) -> None:
    """``make demo`` / ``make test`` exist and do what the README says (a dry run: the suite
    cannot run itself, and the demo's own session is the next runner's)."""
    dry = subprocess.run(["make", "-n", command.split()[1]], cwd=ROOT, capture_output=True,
                         text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    expected = "omnichat talk --local --input" if "demo" in command else "pytest"
    assert expected in dry.stdout
    if "demo" in command:
        _demo_session(ctx, command)


def _demo_session(ctx: Context, command: str) -> None:
    """What ``make demo`` runs, at test speed: the sample question to the emulator."""
    from test_doc_samples import blocks, check_sample

    sample = ROOT / "omnichat" / "data" / "sample-question.wav"
    result = ctx.run(["talk", "--local", "--input", str(sample), "--output",
                      "demo-out/reply.wav", "--transcript", "demo-out/transcript.jsonl", *FAST])
    assert result.returncode == 0, result.stderr
    assert "you:" in result.stdout and "qwen:" in result.stdout
    shown = next(b for b in blocks(ROOT / "README.md") if "reply audio: demo-out" in b)
    check_sample(shown, result.stdout, "README.md's make demo sample")  # the output, as shown


def _installable(ctx: Context, command: str) -> None:
    """``pip``/``pipx install .``: the project declares the ``omnichat`` entry point and a
    build backend (installing for real needs the network, which tests never use)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'omnichat = "omnichat.__main__:main"' in pyproject
    assert "build-backend" in pyproject and 'requires-python = ">=3.10"' in pyproject


def _shell_only(ctx: Context, command: str) -> None:
    """``export``/``.``: shell lines, not commands of omnichat."""


def _serve(ctx: Context, command: str) -> None:
    """The emulator says where it listens (on stderr) and stops on Ctrl+C."""
    proc = ctx.popen([*_args(command), "--port", "0"])
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        assert "listening on ws://127.0.0.1:" in line, line
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130


def _config_init(ctx: Context, command: str) -> None:
    """A starter file where ``config path`` says, private to the user."""
    del ctx.env["OMNICHAT_CONFIG"]
    _exits_zero(ctx, command)
    path = Path(_exits_zero(ctx, "omnichat config path").stdout.strip())
    assert path.is_file() and path.stat().st_mode & 0o077 == 0


def _completion(ctx: Context, command: str) -> None:
    _exits_zero(ctx, command)
    assert "omnichat" in (Path(ctx.env["HOME"]) / ".bashrc").read_text() \
        or any((Path(ctx.env["HOME"]) / ".bash_completions").glob("*"))


def _ptt_in_a_terminal(ctx: Context, command: str) -> None:
    """Push-to-talk in a real terminal (a pty): the key hint shows, and `q` ends it with 0."""
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "omnichat", *_args(command)], cwd=str(ctx.tmp),
                          env=ctx.env, dimensions=(24, 100), timeout=30, encoding="utf-8")
    try:
        child.expect("space to (start|talk)|hold space")
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before


def _image_session(ctx: Context, command: str) -> None:
    """A picture goes with the next words: the named file, made here, and a spoken turn."""
    from PIL import Image

    Image.new("RGB", (640, 480), (200, 30, 30)).save(ctx.tmp / "photo.png")
    write_wav(ctx.tmp / "q.wav", ctx.question)  # type: ignore[attr-defined]
    result = ctx.run([*_args(command), "--input", "q.wav", "--output", "a.wav",
                      "--transcript", "t.jsonl", *FAST])
    assert result.returncode == 0, result.stderr
    assert "attached photo.png" in result.stdout and "qwen:" in result.stdout


def _bench(ctx: Context, command: str) -> None:
    """The bench on the virtual sound card: the question spoken into its microphone instead
    of by a person, one turn; every figure is in the JSON."""
    import json

    result = ctx.run([*_args(command), "--speak-into", "rig_mic_feed", "--turns", "1",
                      "--barge-ins", "0", "--startup-runs", "1", "--json", "bench.json"],
                     timeout_s=120)
    assert result.returncode == 0, result.stderr
    figures = json.loads((ctx.tmp / "bench.json").read_text())
    assert "wire_to_ear" in json.dumps(figures) and "eos_to_heard" in json.dumps(figures)


def _doctor(ctx: Context, command: str) -> None:
    """Every check on the virtual sound card, against the emulator the config points at."""
    result = ctx.run(_args(command))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout and KEY not in result.stdout + result.stderr


def _doctor_echo(ctx: Context, command: str) -> None:
    """The echo self-test on the virtual sound card; --save writes the mode it recommends."""
    result = ctx.run(_args(command), timeout_s=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "echo_mode" in ctx.config.read_text()


def _earlier_conversation(ctx: Context) -> None:
    _exits_zero(ctx, 'omnichat ask --text-only "What is the tallest mountain?"')


def _history(ctx: Context, command: str) -> None:
    """A conversation first; then the listing (or the export) shows it."""
    _earlier_conversation(ctx)
    out = _exits_zero(ctx, command).stdout
    assert "What is the tallest mountain?" in out and ("# Conversation" in out) == ("md" in command)


def _carry_on(ctx: Context, command: str) -> None:
    """A conversation first; the command carries it on (a spoken session is ended by Ctrl+C)."""
    _earlier_conversation(ctx)
    if command.startswith("omnichat talk"):
        proc = ctx.popen(_args(command))
        try:  # Ctrl+C once listening: the session runs (the resumption is said before)
            seen = read_until(proc, "listening", 30)
            proc.send_signal(signal.SIGINT)
            err = proc.communicate(timeout=20)[1]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 130 and "Traceback" not in err, err
        assert "continuing conversation" in seen and "earlier you: What is the" in seen
        return
    assert _exits_zero(ctx, command).stdout == "I read 3 words.\n"


def _ask(ctx: Context, command: str) -> None:
    """One question, the reply printed and played on the virtual sound card."""
    result = _exits_zero(ctx, command)
    assert result.stdout == "I read 1 word.\n" and "transcript: " in result.stderr


RUNNERS: dict[str, Callable[[Context, str], None]] = {
    "omnichat history": _history,
    "omnichat history show last --format md": _history,
    "omnichat talk --continue": _carry_on,
    'omnichat ask "And in Celsius?" --continue --text-only': _carry_on,
    'omnichat ask "question"': _ask,
    "omnichat bench --local": _bench,
    "omnichat ptt": _ptt_in_a_terminal,
    "omnichat talk --image photo.png": _image_session,
    "make demo": _make_target,
    "make test": _make_target,
    "pipx install .": _installable,
    "pip install .": _installable,
    "export DASHSCOPE_API_KEY=sk-...": _shell_only,
    "omnichat talk --local": _until_listening_then_ctrl_c,
    "omnichat talk": _until_listening_then_ctrl_c,
    "omnichat talk --region cn": _until_listening_then_ctrl_c,
    "omnichat talk --input q.wav --output a.wav": _files_session,
    "omnichat talk --text-only": _until_listening_then_ctrl_c,
    "omnichat talk --tools time,calculator": _until_listening_then_ctrl_c,
    "omnichat tools": _exits_zero,
    "omnichat voices": _exits_zero,
    "omnichat doctor": _doctor,
    "omnichat doctor --echo --save": _doctor_echo,
    "omnichat devices": _exits_zero,
    "omnichat config init": _config_init,
    "omnichat config show": _exits_zero,
    "omnichat config path": _exits_zero,
    "omnichat serve": _serve,
    "omnichat --version": _exits_zero,
    "omnichat --install-completion": _completion,
}


def test_every_readme_command_has_a_runner() -> None:
    missing = [c for c in readme_commands() if c not in RUNNERS]
    assert not missing, f"README commands without a test runner: {missing}"
    assert "make demo" in readme_commands() and "make test" in readme_commands()


# Commands that open the microphone or the speaker, or list and test the sound devices: run on
# the virtual sound card. The others use files, the network or nothing, and need no rig.
ON_THE_RIG = ("omnichat bench --local", "omnichat ptt", "omnichat talk --local",
              "omnichat talk", "omnichat talk --region cn", "omnichat talk --text-only",
              "omnichat talk --tools time,calculator", "omnichat doctor",
              "omnichat doctor --echo --save", "omnichat devices", 'omnichat ask "question"',
              "omnichat talk --continue")


@pytest.fixture
def context(tmp_path, make_emulator, speech_pcm, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    emu = make_emulator(speed="fast")
    ctx = Context(tmp_path, emu.url)
    ctx.env["HOME"] = str(home)
    ctx.question = speech_pcm("What is the tallest mountain?")  # type: ignore[attr-defined]
    return ctx


@pytest.fixture
def rig_context(virtual_audio, context):
    context.env.update(virtual_audio.env)
    return context


@pytest.mark.parametrize("command", sorted(set(readme_commands()) & set(ON_THE_RIG)))
def test_readme_command_on_the_rig(command: str, rig_context: Context) -> None:
    RUNNERS[command](rig_context, command)


@pytest.mark.parametrize("command", sorted(set(readme_commands()) - set(ON_THE_RIG)))
def test_readme_command(command: str, context: Context) -> None:
    RUNNERS[command](context, command)


def test_the_readme_toml_example_is_a_valid_config(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(readme_toml())
    result = subprocess.run([sys.executable, "-m", "omnichat", "config", "show"],
                            env={**os.environ, "OMNICHAT_CONFIG": str(config)},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "Answer briefly." in result.stdout and "Tina" in result.stdout
