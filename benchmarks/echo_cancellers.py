"""WebRTC AEC3 (livekit) vs pyaec (speex + preprocess) through the same EchoCore (prints).

    .venv/bin/python benchmarks/echo_cancellers.py          # synthetic room
    .venv/bin/python benchmarks/echo_cancellers.py --rig    # also a recording from the
                                                            # virtual sound card (rig env set,
                                                            # echo on 0.6)
Needs ``pip install livekit pyaec`` and espeak-ng.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from echo_signals import FAR_TEXT, espeak

from omnichat.echo.canceller import WebRtcCanceller, check_frame
from omnichat.echo.core import EchoCore
from omnichat.echo.offline import feed_tap, mic_blocks, reduction_db, run_mode, simulate_room
from omnichat.echo.reference import ReferenceTap


class PyaecCanceller:
    name = "pyaec"

    def __init__(self) -> None:
        from pyaec import Aec

        self._aec = Aec(160, 2048, 16_000, True)

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        near, far = check_frame(near, "microphone"), check_frame(far, "reference")
        return np.asarray(self._aec.cancel_echo(near.tolist(), far.tolist()), np.int16)


def score(name, factory, tap, blocks, mic, lo, hi):
    core = EchoCore("aec", tap, canceller=factory(), refine=False)
    started = time.process_time()
    out = run_mode(core, blocks)
    cpu = (time.process_time() - started) / (mic.size / 16_000)
    print(f"  {name:<12} {reduction_db(mic, out, lo, hi):5.1f} dB   cpu {cpu * 1000:5.1f} ms/s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        far = espeak(Path(tmp), FAR_TEXT, "en-us", 24_000)
    mic = simulate_room(far, 0.06, 0.6)
    print("synthetic room (60 ms, gain 0.6), reduction over 2 s..end:")
    for name, factory in (("webrtc-aec3", WebRtcCanceller), ("pyaec", PyaecCanceller)):
        tap = ReferenceTap(history_s=20)
        feed_tap(tap, far, 50.0)
        score(name, factory, tap, mic_blocks(mic, 50.0), mic, 32_000, mic.size)
    if "--rig" in sys.argv:
        from omnichat.echo.selftest import SCORE_LAST_S, record_echo

        rec = record_echo()
        blocks = mic_blocks(rec.mic, rec.adc_start)
        hi = rec.mic.size - int(0.4 * 16_000)
        print("virtual sound card recording (doctor --echo signal):")
        for name, factory in (("webrtc-aec3", WebRtcCanceller), ("pyaec", PyaecCanceller)):
            score(name, factory, rec.tap, blocks, rec.mic, hi - int(SCORE_LAST_S * 16_000), hi)


if __name__ == "__main__":
    main()
