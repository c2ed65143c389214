"""Barge-in reaction on the virtual sound card, per echo mode (not a test; prints figures).

    .venv/bin/python benchmarks/echo_rig.py [ROUNDS]

``omnichat talk --local`` runs on the project's private PulseAudio rig (tests/rig), with the
speaker-to-mic echo path on (50 ms, gain 0.6; off for mode ``off``, i.e. headphones). A
question goes into the mic; 0.5 s into the reply a second voice speaks over it. Measured: the
time from the start of that voice to 300 ms of silence at the speaker (recorded from the
speaker's monitor), by two paths:

* server: ``--barge-in off``, a normal voice: the emulator's VAD hears it (``speech_started``),
  the client flushes playback.
* local: the emulator's VAD made deaf to quiet speech (threshold 1 = -30 dBFS) and a soft voice
  (every 20 ms frame below -33 dBFS): only the local detector (Silero, medium) can cut it.
* both (default): a normal voice, ``--barge-in medium``: whichever path is first.

"never" means the speaker was not silenced (half-duplex mutes the mic while the model speaks:
the keyboard interrupts; gate passes only a voice louder than the echo). Needs the rig's
packages (pulseaudio, espeak-ng); takes about 10 s per cell.
"""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import fixtures_audio as rig
from test_talk_echo import QUESTION, Talk, _speak_over_the_reply, _wav

from omnichat.audio.level import rms_dbfs
from omnichat.audio.wav import wav_bytes_mono

MODES = ("aec", "gate", "half-duplex", "off")


def speech(text: str) -> bytes:
    import subprocess

    wav = subprocess.run(["espeak-ng", "--stdout", "-v", "en-us", "--", text],
                         capture_output=True, check=True, timeout=30).stdout
    return wav_bytes_mono(wav, 16_000).astype("<i2").tobytes()


def start_rig() -> rig.VirtualAudio:
    va_dir = Path(tempfile.mkdtemp(prefix="omnichat-va-", dir="/tmp"))
    result = rig._run_rig("start", va_dir=va_dir)
    if result.returncode != 0:
        raise SystemExit(f"the rig did not start: {result.stderr.strip()[-300:]}")
    env = {}
    for line in result.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    os.environ.update(env)
    rig._rescan_portaudio()
    return rig.VirtualAudio(va_dir, env)


def one(audio: rig.VirtualAudio, tmp: Path, mode: str, path: str) -> float | None:
    question = _wav(tmp, "q.wav", speech(QUESTION))
    args = ["--echo", mode]
    env = {}
    if path in ("server", "default"):
        interruption = _wav(tmp, "i.wav", speech("Stop, please stop."))
        args += ["--barge-in", "off" if path == "server" else "medium"]
    else:
        soft = speech("Wait, stop please.")
        samples = np.frombuffer(soft, "<i2")
        loudest = max(rms_dbfs(samples[i:i + 320]) for i in range(0, samples.size - 320, 320))
        interruption = _wav(tmp, "i.wav", soft, gain=10 ** ((-33.0 - loudest) / 20))
        config = tmp / "config.toml"
        config.write_text("[turn_detection]\nthreshold = 1.0\n")
        env["OMNICHAT_CONFIG"] = str(config)
    audio.echo(mode != "off", 0.6)
    talk = Talk(tmp, *args, env=env)
    try:
        return _speak_over_the_reply(audio, tmp, talk, question, interruption)
    except (AssertionError, StopIteration):
        return None
    finally:
        talk.stop()
        audio.echo(False)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    audio = start_rig()
    try:
        print(f"{'mode':<12} {'server event':>14} {'local detector':>16} {'both (default)':>16}")
        for mode in MODES:
            cells = []
            for path in ("server", "local", "default"):
                got = []
                for _ in range(rounds):
                    with tempfile.TemporaryDirectory() as tmp:
                        got.append(one(audio, Path(tmp), mode, path))
                hits = [ms for ms in got if ms is not None]
                cells.append("never" if not hits else
                             f"{statistics.median(hits):.0f} ms ({len(hits)}/{len(got)})")
            print(f"{mode:<12} {cells[0]:>14} {cells[1]:>16} {cells[2]:>16}", flush=True)
    finally:
        rig._run_rig("stop", va_dir=audio.va_dir)
        shutil.rmtree(audio.va_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
