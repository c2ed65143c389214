"""Check the harness's clock alignment against a marker of known time (a few seconds).

On the virtual sound card, a PortAudio callback stream writes a 100 ms tone every 50 blocks
and notes ``time.monotonic()`` when it hands the tone over; ``omnichat.bench.recording``
records the speaker monitor and aligns it. For each stream latency the script prints the
measured onset minus the hand-over time: it should be close to the stream's own latency
(never negative). Run: ``.venv/bin/python benchmarks/bench_clock_calibration.py``.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np

from omnichat.bench import envelope
from omnichat.bench.recording import Recorder
from omnichat.bench.rig import VirtualRig

ROOT = Path(__file__).resolve().parent.parent
RATE = 24_000
SETTINGS = [(0.02, 240), (0.005, 0), ("low", 0), (0.1, 240), ("high", 0)]  # (latency, block)


def measure(sd, env: dict[str, str], latency: float | str, block: int) -> str:
    import time
    rec = Recorder("rig_speaker.monitor", RATE, env)
    rec.wait_live()
    marks: list[float] = []
    count = [0]
    tone = (8000 * np.sin(np.arange(RATE // 10) / RATE * 2 * np.pi * 440)).astype(np.int16)

    def callback(out, frames, time_info, status) -> None:  # PortAudio's thread
        out.fill(0)
        count[0] += 1
        if count[0] % 50 == 0:
            marks.append(time.monotonic())
            n = min(frames, tone.size)
            out[:n, 0] = tone[:n]

    done = threading.Event()
    with sd.OutputStream(samplerate=RATE, channels=1, dtype="int16", latency=latency,
                         blocksize=block, callback=callback) as stream:
        done.wait(4.0)  # pacing: let about 8 markers play
        stream_ms = stream.latency * 1000
    samples, clock = rec.stop()
    assert clock is not None
    delays = []
    for mark in marks:
        onset = envelope.first_loud(samples, RATE, clock.index_at(mark) - RATE // 10)
        if onset is not None:
            delays.append((clock.time_of(onset) - mark) * 1000)
    return (f"latency={latency!s:<6} block={block:<4} stream {stream_ms:5.1f} ms, sink block "
            f"{clock.block_ms:.1f} ms, jitter {clock.jitter_ms:.1f} ms: onset - hand-over "
            f"median {np.median(delays):.1f} ms, range {min(delays):.1f}..{max(delays):.1f}")


def main() -> int:
    with VirtualRig(ROOT / "tests" / "rig" / "virtual-audio.sh") as env:
        os.environ.update(env)
        import sounddevice as sd
        for latency, block in SETTINGS:
            print(measure(sd, env, latency, block), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
