"""The latency harness (omnichat.bench): its detectors on synthetic signals, and one short
turn of ``omnichat talk`` measured end to end on the virtual sound card."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from omnichat.bench import envelope
from omnichat.bench.clients import ClientSpec, omnichat_client
from omnichat.bench.figures import summarize
from omnichat.bench.recording import fit_clock
from omnichat.bench.scenario import BenchError, Scenario, run_client, speech_clip
from omnichat.bench.trace import parse_line

RATE = 24_000


def _tone(ms: int, amplitude: int = 8000) -> np.ndarray:
    t = np.arange(RATE * ms // 1000) / RATE
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def _silence(ms: int) -> np.ndarray:
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


def test_onset_and_silence_are_found_to_the_millisecond():
    x = np.concatenate([_silence(100), _tone(300), _silence(50), _tone(200), _silence(400)])
    onset = envelope.first_loud(x, RATE)
    assert abs(onset - RATE * 100 // 1000) <= RATE // 1000
    # the 50 ms gap between words is not the end of playback; the 400 ms quiet run is
    end = envelope.silence_from(x, RATE, onset)
    assert abs(end - RATE * 650 // 1000) <= RATE // 1000
    assert envelope.first_loud(_silence(500), RATE) is None


def test_clock_alignment_takes_the_typical_delivery_delay():
    # chunks of 240 samples from t0 = 5.0, delayed 3 ms typically; one early, one late outlier
    delays = [0.003, 0.003, -0.010, 0.003, 0.030, 0.003]
    arrivals = [(5.0 + (i + 1) * 0.01 + d, (i + 1) * 240) for i, d in enumerate(delays)]
    clock = fit_clock(arrivals, RATE)
    assert clock.t0 == pytest.approx(5.003, abs=1e-9)
    assert clock.jitter_ms == pytest.approx(13.0)
    assert clock.time_of(RATE) == pytest.approx(6.003)
    assert clock.block_ms == pytest.approx(10.0)


def test_trace_lines_give_audio_durations_and_skip_notes():
    delta = parse_line(json.dumps({"t": 1.5, "session": "s", "dir": "out", "event": {
        "type": "response.audio.delta", "response_id": "r1", "delta": "<6400 base64 chars>"}}))
    assert delta is not None and delta.audio_samples == 2400 and delta.response_id == "r1"
    assert parse_line('{"t": 1, "session": "", "dir": "in", "note": "handshake"}') is None
    assert parse_line('{"t": 1, "sess') is None


def test_summary_has_median_p95_and_count():
    s = summarize([10.0, 20.0, 30.0, 40.0, float("nan")])
    assert (s.median, s.count) == (25.0, 4) and 38.0 < s.p95 <= 40.0
    assert summarize([]).median is None


def test_one_turn_of_omnichat_is_measured_on_the_rig(virtual_audio, tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    virtual_audio.echo(False)
    clip = speech_clip("What time is it?", tmp_path / "question.wav")
    result = run_client(omnichat_client(tmp_path), Scenario(turns=[clip], reply="It is noon."),
                        tmp_path)
    figures = result.figures.summaries()
    assert figures["eos_to_heard"].count >= 1, (result.figures.skipped, result.notes)
    assert 0 < figures["eos_to_heard"].median < 5000
    assert -50 < figures["wire_to_ear"].median < 1000  # ms; the clock bound, see recording.py
    assert figures["server"].median is not None and figures["mic_to_vad"].median > 0
    assert result.speaker_clock is not None and result.speaker_clock.jitter_ms < 100


def test_a_client_that_exits_at_once_is_reported_not_waited_for(virtual_audio, tmp_path):
    broken = ClientSpec("broken", [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(BenchError, match="broken exited with status 3 before sending audio"):
        run_client(broken, Scenario(turns=[], connect_timeout_s=60.0), tmp_path)
