"""``omnichat talk``/``ptt`` as a real process on a pseudo-terminal (pexpect), against an
emulator running in the test process: the test types keys and waits on what the emulator
received (``emu.connection.wait_for``) and on the screen (``expect``), never on time.

The microphone is ``--input`` (a WAV played in real time as the microphone: in a terminal,
ptt gates it with the keys); replies go to ``--output`` (played in real time, so "the model
is speaking" lasts as long as the reply).
"""

from __future__ import annotations

import os
import sys
import wave
from pathlib import Path

import numpy as np
import pexpect

RATE_HZ = 16_000


def loud_wav(path: Path, seconds: float = 60.0) -> Path:
    """Noise at about -12 dBFS: every 20 ms frame counts as speech."""
    rng = np.random.default_rng(7)
    pcm = (rng.standard_normal(int(seconds * RATE_HZ)) * 8000).clip(-32768, 32767)
    return write_wav(path, pcm.astype(np.int16))


def speech_then_silence(path: Path, speech_s: float = 1.0, silence_s: float = 30.0) -> Path:
    loud = loud_wav(path, speech_s)
    with wave.open(str(loud), "rb") as handle:
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    return write_wav(path, np.concatenate([pcm, np.zeros(int(silence_s * RATE_HZ), np.int16)]))


def write_wav(path: Path, pcm: np.ndarray, rate_hz: int = RATE_HZ) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate_hz)
        handle.writeframes(pcm.astype("<i2").tobytes())
    return path


def config_for(emu, tmp_path: Path, reconnect_attempts: int = 8) -> dict[str, str]:
    """Environment that points omnichat at ``emu`` (a region of our own; a dummy key)."""
    config = tmp_path / "config.toml"
    config.write_text(f'region = "emu"\nreconnect_attempts = {reconnect_attempts}\n\n'
                      f'[regions.emu]\nurl = "{emu.url}"\n'
                      'api_key_env = "OMNICHAT_TEST_KEY"\n', encoding="utf-8")
    # No COLUMNS/LINES: the program reads the pseudo-terminal's own size, as in a real
    # terminal (pytest-xdist workers export COLUMNS=80, which Rich would take instead).
    inherited = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**inherited, "OMNICHAT_CONFIG": str(config), "OMNICHAT_TEST_KEY": "test-key",
            "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}


def omnichat_args(command: str, tmp_path: Path, *extra: str, wav: Path | None = None
                  ) -> list[str]:
    wav = wav or loud_wav(tmp_path / "mic.wav")
    return ["-m", "omnichat", command, "--input", str(wav), "--output",
            str(tmp_path / "out.wav"), "--transcript", str(tmp_path / "t.jsonl"), *extra]


def spawn(emu, tmp_path: Path, command: str = "ptt", *extra: str,
          wav: Path | None = None) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, omnichat_args(command, tmp_path, *extra, wav=wav),
                          env=config_for(emu, tmp_path), dimensions=(40, 200),
                          encoding="utf-8", timeout=20, cwd=str(tmp_path))
    child.expect_exact("keys:")
    return child


def finish(child: pexpect.spawn) -> int:
    """Wait for the process to end; its exit status."""
    child.expect(pexpect.EOF, timeout=20)
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else -(child.signalstatus or 0))
