"""``omnichat bench --local`` on the virtual sound card, by hand (the longer run).

Starts a private virtual sound card (``tests/rig/virtual-audio.sh``, as ``make test`` does),
then runs ``omnichat bench --local --speak-into rig_mic_feed`` with the remaining arguments in
its environment, so the questions are spoken into the rig's microphone and the replies play on
its speaker. Needs ``pulseaudio``, ``pulseaudio-utils`` and ``espeak-ng`` (``make system-deps``).

    .venv/bin/python benchmarks/bench_rig.py --turns 40 --barge-ins 10 --json out.json   # ~10 min
    .venv/bin/python benchmarks/bench_rig.py --turns 3 --long
    .venv/bin/python benchmarks/bench_rig.py --speaker-rate 48000 --turns 10   # resampled path

``--speaker-rate N`` (first argument) runs the sound card's speaker at N Hz and makes PortAudio
refuse 24 kHz (``benchmarks/forced_rate.py``), so omnichat resamples as on most hardware.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from omnichat.bench.rig import VirtualRig
from omnichat.bench.scenario import BenchError

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    command = [sys.executable, "-m", "omnichat"]
    if argv[:1] == ["--speaker-rate"] and len(argv) > 1 and argv[1].isdigit():
        os.environ["VA_SPK_RATE"] = argv[1]  # the rig's speaker sink runs at that rate
        command = [sys.executable, str(ROOT / "benchmarks" / "forced_rate.py"), argv[1]]
        argv = argv[2:]
    try:
        with VirtualRig(ROOT / "tests" / "rig" / "virtual-audio.sh") as env:
            return subprocess.run([*command, "bench", "--local", "--speak-into", "rig_mic_feed",
                                   *argv], env=env, check=False).returncode
    except BenchError as exc:
        print(f"bench_rig: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
