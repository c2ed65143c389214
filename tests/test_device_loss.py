"""A sound device that goes away mid-conversation (unplugged, the sound server died) ends the
session with one line and exit 3, the transcript kept — not a session that hangs in silence.

It runs on a private virtual sound card of its own (the session's shared one must survive),
whose PulseAudio daemon is killed while `omnichat talk` is listening."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from fixtures_audio import _cannot_run, _run_rig
from subprocess_support import read_until
from test_engine_support import write_wav

from omnichat.transcript import read_transcript


@pytest.fixture
def private_rig():
    va_dir = Path(tempfile.mkdtemp(prefix="omnichat-va-loss-", dir="/tmp"))
    result = _run_rig("start", va_dir=va_dir)
    if result.returncode != 0:
        shutil.rmtree(va_dir, ignore_errors=True)
        _cannot_run(result.stderr.strip().splitlines()[-1] if result.stderr.strip()
                    else f"virtual-audio.sh exited {result.returncode}")
    env = {}
    for line in result.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    try:
        yield va_dir, env
    finally:
        _run_rig("stop", va_dir=va_dir)
        shutil.rmtree(va_dir, ignore_errors=True)


def test_a_sound_server_that_dies_ends_the_session_in_one_line(private_rig, tmp_path,
                                                               speech_pcm):
    va_dir, rig_env = private_rig
    env = {**os.environ, **rig_env}
    question = write_wav(tmp_path / "q.wav", speech_pcm("What is the weather like?"))
    transcript = tmp_path / "t.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnichat", "talk", "--local", "--transcript", str(transcript)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(proc, "listening", 30)
        played = subprocess.run(["paplay", "-d", "rig_mic_feed", str(question)], env=env,
                                timeout=30, check=False)
        assert played.returncode == 0
        read_until(proc, "qwen:", 30)  # one whole exchange happened on the devices
        pid = int((va_dir / "pulse" / "pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)  # the sound server is gone, as if unplugged
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, err
    errors = [line for line in err.decode().splitlines() if line.startswith("omnichat:")]
    assert len(errors) == 1 and "device stopped" in errors[0], err
    assert b"Traceback" not in err
    assert [t["role"] for t in read_transcript(transcript)][:2] == ["user", "assistant"]
