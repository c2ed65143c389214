"""Echo modes and the local barge-in detector on a synthetic room (not a test; prints figures).

    .venv/bin/python benchmarks/echo_modes.py

The model's voice (espeak-ng, ~8 s, looped to 32 s) is heard by the mic 60 ms later at gain
0.6 with a short tail and faint noise. Per mode: echo reduction (dB, after 2 s), false
barge-ins per minute of model speech with a cough-like burst and a click every second mixed
in, the detector's reaction time to a second talker (from the speech onset to the firing),
and CPU per second of audio (mode, and detector). Then the two VADs on the same clips.
Needs espeak-ng; aec needs ``omnichat[aec]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from echo_signals import FAR_TEXT, NEAR_TEXT, espeak, noise_bursts

from omnichat.echo.bargein import BargeInDetector
from omnichat.echo.canceller import canceller_available, make_canceller
from omnichat.echo.core import EchoCore
from omnichat.echo.offline import (
    feed_tap,
    mic_blocks,
    reduction_db,
    run_mode,
    simulate_room,
)
from omnichat.echo.reference import ReferenceTap
from omnichat.echo.vad import EnergyVad, SileroVad, WebRtcVad

RATE = 16_000
T0 = 50.0
MODES = ("off", "aec", "gate", "half-duplex")


def run(mode: str, far24: np.ndarray, mic: np.ndarray) -> tuple[np.ndarray, float]:
    tap = ReferenceTap(history_s=far24.size / 24_000 + 5)
    feed_tap(tap, far24, T0)
    core = EchoCore(mode, tap, canceller=make_canceller() if mode == "aec" else None)
    started = time.process_time()
    out = run_mode(core, mic_blocks(mic, T0))
    return out, (time.process_time() - started) / (mic.size / RATE)


def fires(out: np.ndarray, sensitivity: str = "medium") -> tuple[list[int], float]:
    detector = BargeInDetector(sensitivity)
    started = time.process_time()
    at = [i for i in range(0, out.size, 320) if detector.feed(out[i:i + 320])]
    return at, (time.process_time() - started) / (out.size / RATE)


def onset(x: np.ndarray) -> int:
    rms = np.sqrt(np.mean(x[: x.size // 160 * 160].reshape(-1, 160).astype(float) ** 2, 1))
    return int(np.argmax(rms > 328)) * 160  # first 10 ms above -40 dBFS


def mode_table(far24: np.ndarray, near16: np.ndarray) -> None:
    loop = np.tile(far24, 4)
    echo = simulate_room(loop, 0.06, 0.6)
    bursts = noise_bursts(RATE, echo.size / RATE)
    with_noise = np.clip(echo.astype(int) + bursts, -32768, 32767).astype(np.int16)
    start = 3 * RATE
    near = np.zeros(far24.size * 2 // 3)
    near[start:start + near16.size] = near16[: near.size - start]
    talk = simulate_room(far24, 0.06, 0.6, near16=near)
    minutes = loop.size / 24_000 / 60
    print(f"{'mode':<12} {'reduction':>9} {'false/min':>9} {'reaction':>9} {'cpu mode':>9} "
          f"{'cpu vad':>8}")
    for mode in MODES:
        if mode == "aec" and not canceller_available():
            print(f"{mode:<12} not installed (pip install 'omnichat[aec]')")
            continue
        out, cpu = run(mode, loop, echo)
        red = reduction_db(echo, out, 2 * RATE, echo.size)
        noisy, _ = run(mode, loop, with_noise)
        false_at, cpu_vad = fires(noisy)
        talk_out, _ = run(mode, far24, talk)
        hits = [i for i in fires(talk_out)[0] if i >= start - RATE // 4]
        react = f"{(hits[0] - start - onset(near16)) / RATE * 1000:.0f} ms" if hits else "never"
        react = "n/a" if mode == "off" else react  # the echo itself keeps it firing
        print(f"{mode:<12} {min(red, 99):7.1f} dB {len(false_at) / minutes:9.1f} {react:>9} "
              f"{cpu * 1000:6.1f} ms {cpu_vad * 1000:5.1f} ms")


def vad_table(far24: np.ndarray, near16: np.ndarray) -> None:
    echo = simulate_room(far24, 0.06, 0.6)
    residue = run("aec", far24, echo)[0][2 * RATE:] if canceller_available() else echo
    clips = {"speech": near16, "aec residue": residue, "coughs+clicks": noise_bursts(RATE, 8.0),
             "hiss -40dBFS": np.random.default_rng(3).normal(0, 330, 4 * RATE).astype(np.int16)}
    print(f"\n{'vad':<8}" + "".join(f"{name:>15}" for name in clips) + "   (windows >= 0.6)")
    for factory in (SileroVad, WebRtcVad, EnergyVad):
        try:
            factory()
        except ImportError as exc:  # webrtcvad-wheels is only for this comparison
            print(f"{factory.name:<8} not installed ({exc.name})")
            continue
        cells = []
        for clip in clips.values():
            vad = factory()
            w = vad.window_samples
            probs = [vad.probability(clip[i:i + w]) for i in range(0, clip.size - w, w)]
            cells.append(f"{np.mean(np.array(probs) >= 0.6) * 100:14.1f}%")
        print(f"{factory.name:<8}" + "".join(cells))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        far24 = espeak(Path(tmp), FAR_TEXT, "en-us", 24_000)
        near16 = espeak(Path(tmp), NEAR_TEXT, "en-gb+f3", RATE)
    print(f"model speech {far24.size / 24_000:.1f} s x 4, echo 60 ms at gain 0.6; "
          f"barge-in sensitivity medium (250 ms)\n")
    mode_table(far24, near16)
    vad_table(far24, near16)


if __name__ == "__main__":
    main()
