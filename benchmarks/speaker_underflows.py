"""Device underflows of speaker designs under CPU load, on the virtual sound card.

Plays ``--seconds`` of continuous audio (a reply that never pauses) through each speaker
design in turn and counts PortAudio's output-underflow flags, with ``--burners`` busy-loop
processes (``python -c 'while 1: pass'``) competing for the CPUs. Designs:

* ``callback B/L``: a PortAudio callback stream of B ms blocks and at least L ms of device
  buffer whose callback copies from the ``PlaybackBuffer`` (omnichat's speaker before the
  adaptive queue; 5/10 was the case that crackled, 5/20 the fix, 10/20 the alternative);
* ``queue``: ``omnichat.audio.speaker.Speaker`` (blocking writes from its own thread, 10 ms
  queued while idle, 20 ms and up while playing, real-time priority where allowed);
* ``queue 20 ms buffer``: the same in a 20 ms device buffer (5 ms ALSA periods): 5 ms idle,
  15 ms while playing;
* ``queue, normal priority``: the same with the thread priority left alone.

Each design runs ``--repeats`` times, interleaved, so a change in the machine's load hits all
of them. The load average is printed with every figure (the machine may be shared).

    .venv/bin/python benchmarks/speaker_underflows.py --seconds 60 --burners 2 --repeats 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RATE = 24_000


def tone(seconds: float) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * 220 * t) * 6000).astype("<i2").tobytes()


def play_callback(seconds: float, block_ms: int, buffer_ms: int) -> tuple[int, int]:
    """(underflows while playing, 0) for a callback stream copying from the buffer."""
    from omnichat.audio.devices import sounddevice_module
    from omnichat.audio.playback import PlaybackBuffer

    sd = sounddevice_module()
    buf = PlaybackBuffer()
    flags = [0]

    def callback(outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status.output_underflow:
            flags[0] += 1
        buf.read_into(outdata)

    block = RATE * block_ms // 1000
    latency = max(buffer_ms / 1000.0, 2 * block / RATE)
    with sd.OutputStream(samplerate=RATE, channels=1, dtype="int16", blocksize=block,
                         latency=latency, callback=callback):
        buf.write(tone(seconds))
        buf.finish()
        buf.wait_drained(seconds + 10)
    return flags[0], 0


def play_queue(seconds: float, priority: bool, buffer_s: float | None = None,
               idle_ms: float | None = None, margin_ms: float | None = None) -> tuple[int, int]:
    """(underflows while playing, idle underflows) of omnichat's speaker; ``buffer_s`` etc.
    replace its device buffer request and queue depths."""
    from omnichat.audio import speaker as speaker_module
    from omnichat.audio.playback import PlaybackBuffer
    from omnichat.audio.queue_depth import QueueDepth

    if not priority:
        speaker_module.raise_current_thread = lambda: "normal"  # type: ignore[assignment]
        speaker_module.raise_sound_server_threads = lambda: 0  # type: ignore[assignment]
    depth = QueueDepth()
    if buffer_s is not None and idle_ms is not None and margin_ms is not None:
        speaker_module.DEVICE_BUFFER_S = buffer_s
        depth = QueueDepth(idle_floor_ms=idle_ms, margin_floor_ms=margin_ms, max_ms=margin_ms)
    buf = PlaybackBuffer()
    with speaker_module.Speaker(buf, depth=depth) as speaker:
        buf.write(tone(seconds))
        buf.finish()
        buf.wait_drained(seconds + 10)
    return speaker.device_underflows, speaker.idle_underflows


def designs(seconds: float) -> dict[str, Callable[[], tuple[int, int]]]:
    return {
        "callback 5/10": lambda: play_callback(seconds, 5, 10),
        "callback 10/20": lambda: play_callback(seconds, 10, 20),
        "callback 5/20": lambda: play_callback(seconds, 5, 20),
        "queue": lambda: play_queue(seconds, priority=True),
        "queue 20 ms buffer": lambda: play_queue(seconds, True, 0.015, 5.0, 15.0),
        "queue, normal priority": lambda: play_queue(seconds, priority=False),
    }


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_one(name: str, seconds: float, env: dict[str, str]) -> str:
    """One design in a fresh process (a design's patches must not leak into the next)."""
    done = subprocess.run([sys.executable, __file__, "--one", name, "--seconds", str(seconds)],
                          env=env, capture_output=True, text=True, timeout=seconds + 60)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("result ")]
    if done.returncode != 0 or not lines:
        return f"failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}"
    return lines[-1].removeprefix("result ")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--burners", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", action="append", help="a design name (repeatable)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        playing, idle = designs(args.seconds)[args.one]()
        print(f"result {playing} {idle}")
        return 0
    from omnichat.bench.rig import VirtualRig

    names = args.only or list(designs(args.seconds))
    burners: list[subprocess.Popen[bytes]] = []
    with VirtualRig(ROOT / "tests" / "rig" / "virtual-audio.sh") as env:
        try:
            burners = [subprocess.Popen([sys.executable, "-c", "while 1: pass"])
                       for _ in range(args.burners)]
            print(f"{args.seconds:g} s of audio per run, {args.burners} CPU burners")
            print(f"{'design':<24} {'underflows playing':>18} {'idle':>5}  load before -> after")
            for _ in range(args.repeats):
                for name in names:
                    before = loadavg()
                    result = run_one(name, args.seconds, env)
                    playing, _, idle = result.partition(" ")
                    print(f"{name:<24} {playing:>18} {idle:>5}  {before} -> {loadavg()}",
                          flush=True)
        finally:
            for proc in burners:
                proc.kill()
                proc.wait(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
