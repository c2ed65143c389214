"""``omnichat bench``: the figures from recorded timelines (pure), the engine's metrics hook
against the emulator, and a short run of the real command on the virtual sound card."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from test_engine_support import finished, make_engine, speak, wait_for, wait_until
from typer.testing import CliRunner

from omnichat.audio.playback import PlaybackBuffer
from omnichat.audio.speaker import FileSpeaker
from omnichat.bench.analysis import Played, Timeline, analyze
from omnichat.bench.command import FIGURES
from omnichat.cli import app
from omnichat.engine import commands as cmd

# ---- figures from a timeline ------------------------------------------------------------------


def _block(dac_t: float, position: int, real: int = 120, flushes: int = 0,
           fade: int = 0) -> Played:
    return Played(dac_t, position, fade, real, flushes)


def test_reply_start_barge_in_and_end_of_speech_split_from_a_timeline():
    # The mic sends 60 ms batches (3 x 20 ms blocks); batch k's first sample was at the ADC at
    # 10.0 + 0.06 k; each block reaches the engine 30 ms after its ADC time (the device's part)
    # and the batch goes out 5 ms after its last block -> 75 ms for the oldest sample.
    events: list[tuple[str, tuple[float, ...]]] = []
    adc_of = [(10.0 + 0.02 * i + 0.03, 10.0 + 0.02 * i) for i in range(60)]
    for k in range(20):
        first = 10.0 + 0.06 * k
        events.append(("audio_sent", (first + 0.04 + 0.03 + 1e-6, first + 0.075, 960)))
    # end of speech at 0.5 s of session audio = sample 8000: batch 8 (samples 7680..8639)
    events += [("input_audio_buffer.speech_stopped", (11.4, 0.5)),
               ("response.created", (11.41,)), ("response.audio.delta", (11.60,)),
               ("audio_queued", (11.601, 0.0, 4800.0)),
               ("input_audio_buffer.speech_started", (12.0,)), ("flush", (12.001, 1.0))]
    # 5 ms blocks; the first real sample (position 0) reaches the DAC at 11.615
    blocks = [_block(11.605, 0, real=0), _block(11.610, 0, real=0, fade=0)]
    blocks += [_block(11.615 + 0.005 * i, 120 * i) for i in range(80)]
    blocks += [_block(12.02, 9600, real=0, flushes=1, fade=240)]  # the flush's 10 ms fade
    values = analyze(Timeline(events, blocks, network_rtt_s=0.0, adc_of=adc_of))
    assert values["mic_to_wire"][0] == pytest.approx(75.0)
    assert values["mic_device"][0] == pytest.approx(30.0)
    assert values["mic_to_wire_client"][0] == pytest.approx(45.0)
    assert values["wire_to_ear"] == [pytest.approx(15.0)]
    assert values["barge_in"] == [pytest.approx(30.0)]  # 12.0 -> 12.02 + 10 ms fade
    eos_adc = 10.0 + 0.06 * 8 + (8000 - 7680) / 16_000  # 10.5
    assert values["eos_to_heard"] == [pytest.approx((11.615 - eos_adc) * 1000)]
    # client: eos -> its batch sent (10.555) plus arrival -> DAC; the server the rest
    assert values["eos_client"] == [pytest.approx((10.555 - eos_adc + 0.015) * 1000)]
    assert values["eos_server"] == [pytest.approx((11.60 - 10.555) * 1000)]
    assert values["barge_in_local"] == []


def test_a_flush_with_nothing_playing_is_not_a_barge_in_and_flushed_audio_is_never_heard():
    events = [("response.created", (1.0,)), ("response.audio.delta", (1.1,)),
              ("audio_queued", (1.1, 0.0, 4800.0)), ("interrupt", (1.2,)), ("flush", (1.2, 1.0))]
    blocks = [_block(1.5, 4800, real=0, flushes=1)]  # the reply was flushed before it played
    values = analyze(Timeline(events, blocks))
    assert values["wire_to_ear"] == [] and values["barge_in_local"] == []


# ---- the engine's metrics hook ----------------------------------------------------------------


def test_the_engine_reports_sends_arrivals_writes_and_flushes(emulator, speech_pcm, tmp_path):
    seen: list[tuple[str, tuple[float, ...]]] = []
    playback = PlaybackBuffer()
    speaker = FileSpeaker(playback, tmp_path / "out.wav", pace=0)
    speaker.start()
    engine = make_engine(emulator, playback=playback,
                         engine_options={"metrics": lambda k, t: seen.append((k, t))})
    try:
        engine.start()
        speak(engine, speech_pcm("What time is it?"))
        wait_for(engine, finished("assistant"))
        wait_until(engine, engine.is_idle)
        engine.command(cmd.Interrupt())
    finally:
        engine.close()
        speaker.close()
    kinds = [k for k, _ in seen]
    sent = [t for k, t in seen if k == "audio_sent"]
    assert all(t[1] >= t[0] for t in sent)  # fed before sent
    assert sum(int(t[2]) for t in sent) * 2 >= len(speech_pcm("What time is it?"))
    stopped = next(t for k, t in seen if k == "input_audio_buffer.speech_stopped")
    assert 0.3 < stopped[1] < 5.0  # audio_end_ms of the utterance, in seconds
    queued = [t for k, t in seen if k == "audio_queued"]
    assert queued[0][1] == 0 and sum(int(t[2]) for t in queued) == playback.written_samples
    assert "response.audio.delta" in kinds and "interrupt" in kinds


def test_bench_refuses_nothing_to_do_in_one_line():
    result = CliRunner().invoke(app, ["bench", "--local", "--turns", "0", "--barge-ins", "0"])
    assert result.exit_code == 2
    assert "--turns and --barge-ins" in result.output and "Traceback" not in result.output


def test_bench_refuses_a_json_path_it_cannot_write_before_measuring(tmp_path):
    target = tmp_path / "missing" / "out.json"
    result = CliRunner().invoke(app, ["bench", "--local", "--json", str(target)])
    assert result.exit_code == 2 and "pick another --json path" in result.output
    assert not target.parent.exists()


# ---- the real command on the virtual sound card -----------------------------------------------


def test_bench_local_writes_every_figure_on_the_rig(virtual_audio, tmp_path):
    if shutil.which("espeak-ng") is None or shutil.which("paplay") is None:
        pytest.skip("espeak-ng and paplay are needed (apt-get install espeak-ng pulseaudio-utils)")
    virtual_audio.echo(False)
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "-m", "omnichat", "bench", "--local", "--speak-into", "rig_mic_feed",
         "--turns", "0", "--barge-ins", "1", "--startup-runs", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "wire_to_ear" in done.stdout and "barge_in" in done.stdout  # the table
    doc = json.loads(out.read_text())
    figures = doc["figures"]
    assert [name for name, _, _ in FIGURES] == list(figures)
    for fig in figures.values():
        assert set(fig) == {"median", "p95", "count", "unit"}
    for name in ("mic_to_wire", "wire_to_ear", "eos_to_heard", "barge_in", "cpu_percent",
                 "rss_mb", "startup_help", "startup_voices", "underruns_per_min"):
        assert figures[name]["count"] >= 1, (name, doc["notes"])
        assert figures[name]["median"] <= figures[name]["p95"]
    assert 0 < figures["wire_to_ear"]["median"] < 1000  # ms: plausibility, not a target
    assert 0 < figures["barge_in"]["median"] < 1000
    assert 300 < figures["eos_to_heard"]["median"] < 10_000  # includes the VAD's 800 ms
    assert 0 < figures["mic_to_wire"]["median"] < 1000
    assert 5 < figures["rss_mb"]["median"] < 2000 and figures["cpu_percent"]["median"] >= 0
    assert figures["eos_network"]["median"] == 0  # loopback
    assert doc["target"] == "emulator" and doc["counters"]["mic_blocks_dropped"] >= 0


def test_connect_times_measure_a_loopback_listener_and_leave_out_refusals():
    import socket

    from omnichat.bench.probes import connect_times

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        times = connect_times(f"ws://127.0.0.1:{port}/api-ws/v1/realtime", runs=3)
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert connect_times(f"ws://127.0.0.1:{port}/", runs=2, timeout_s=1.0) == []  # closed now


def test_resource_sampler_gives_cpu_memory_and_counter_rates():
    from omnichat.bench.probes import ResourceSampler

    now = [100.0]
    sampler = ResourceSampler(clock=lambda: now[0])
    for underruns in (0, 0, 3):
        now[0] += 1.0
        sampler.sample({"underruns": underruns})
    values = sampler.values
    assert len(values["cpu_percent"]) == 3 and values["rss_mb"][0] > 1
    assert values["underruns_per_min"] == [0.0, 180.0]  # 3 in one second = 180 per minute
