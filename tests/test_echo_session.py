"""The echo handling ``talk`` wires in (``omnichat.echo.session``), without devices: a simulated
room (the model's speech heard 60-80 ms later at gain 0.6) through the playback-tap and
microphone-stage hooks exactly as ``talk`` calls them; mode choice; the settings' errors."""

from __future__ import annotations

import queue
from types import SimpleNamespace

import numpy as np
import pytest
from echo_signals import FAR_TEXT, NEAR_TEXT, espeak, ncc_best
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.echo import FRAME_SAMPLES, MIC_RATE_HZ
from omnichat.echo import core as core_module
from omnichat.echo.canceller import canceller_available
from omnichat.echo.core import EchoCore
from omnichat.echo.offline import feed_tap, mic_blocks, reduction_db, run_mode, simulate_room
from omnichat.echo.reference import ReferenceTap
from omnichat.echo.session import EchoSession, choose_mode
from omnichat.errors import ExitCode, UsageError

T0 = 1000.0
SPEAKER_BLOCK = 480  # 20 ms at 24 kHz


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("echo-session")
    far = espeak(tmp, FAR_TEXT, "en-us", 24_000)[: 3 * 24_000]  # within the tap's history
    return far, espeak(tmp, NEAR_TEXT, "en-gb+f3", 16_000)


def _through_session(mode: str, far24: np.ndarray, mic16: np.ndarray, **kw) -> np.ndarray:
    """Play ``far24`` through the session's tap, then the mic through its stage."""
    out: queue.Queue[bytes] = queue.Queue()
    session = EchoSession(mode, out.put_nowait, lambda: None, **kw)
    try:
        for i in range(0, far24.size, SPEAKER_BLOCK):
            session.on_played(SimpleNamespace(samples=far24[i:i + SPEAKER_BLOCK], position=i,
                                              dac_time=T0 + i / 24_000))
        adc: list[float] = []
        stage = session.mic_stage(lambda: adc[-1])
        got = []
        for block, at in mic_blocks(mic16, T0):  # 20 ms blocks: each one comes back processed
            adc.append(at)
            assert stage(block) is None  # the raw block never goes up by itself
            got.append(out.get(timeout=5))
    finally:
        session.close()
    assert session.failure is None and session.stage.dropped_in == 0
    return np.frombuffer(b"".join(got), np.int16)


@pytest.mark.parametrize("mode", ["gate", "half-duplex",
                                  pytest.param("aec", marks=pytest.mark.skipif(
                                      not canceller_available(), reason="no canceller"))])
def test_each_mode_removes_the_echo_even_with_local_barge_in_off(speech, mode):
    """Regression: with ``barge_in = "off"`` the stage ran inline and sent the raw mic up."""
    far24, _ = speech
    mic = simulate_room(far24, 0.06, 0.6)
    out = _through_session(mode, far24, mic, barge_in="off")
    assert out.size == mic.size // FRAME_SAMPLES * FRAME_SAMPLES
    assert reduction_db(mic, out, MIC_RATE_HZ // 2, mic.size - MIC_RATE_HZ // 4) > 20.0


def test_local_barge_in_is_called_from_the_echo_thread(speech):
    far24, near16 = speech
    heard: queue.Queue[str] = queue.Queue()

    class Detector:
        sensitivity = "medium"

        def __init__(self):
            self.frames = 0

        def feed(self, frame):
            self.frames += 1
            return self.frames == 30  # "speech long enough" after 300 ms

    detector = Detector()
    session = EchoSession("off", lambda b: None, lambda: heard.put("cut"), detector=detector)
    try:
        adc = [T0]
        stage = session.mic_stage(lambda: adc[0])
        for block, _ in mic_blocks(near16[:MIC_RATE_HZ], T0):
            stage(block)
        assert heard.get(timeout=5) == "cut"
    finally:
        session.close()
    assert session.local_barge_ins == 1
    assert session.update().barge_in == "medium"


def test_gate_holds_the_echo_before_its_delay_is_measured(speech, monkeypatch):
    """The first second of the model's voice, before the delay refinement (80 ms room, the
    device timestamps say 0): the gate's window must reach back to the echo."""
    far24, _ = speech
    mic = simulate_room(far24, 0.08, 0.6)
    first = slice(0, MIC_RATE_HZ)

    def first_second_db() -> float:
        tap = ReferenceTap(history_s=20)
        feed_tap(tap, far24, T0)
        out = run_mode(EchoCore("gate", tap), mic_blocks(mic, T0))
        return reduction_db(mic, out, first.start, first.stop)

    assert first_second_db() > 20.0
    monkeypatch.setattr(core_module, "UNSURE_S", 0.0)
    assert first_second_db() < 20.0  # the test of the test: without the widened window


class DivergedCanceller:
    """A canceller that removes nothing (AEC3 re-converging after the echo's delay moved)."""

    stream_delay_ms = 0

    def process(self, near, far):
        return near.copy()


def test_aec_silences_residual_that_is_still_the_echo_and_keeps_a_voice(speech):
    """Once the echo's delay is measured, output that still follows the reference is echo."""
    far24, near16 = speech
    echo = simulate_room(far24, 0.07, 0.6)
    tap = ReferenceTap(history_s=20)
    feed_tap(tap, far24, T0)
    core = EchoCore("aec", tap, canceller=DivergedCanceller())
    out = run_mode(core, mic_blocks(echo, T0))
    assert core.delay_ncc > 0  # measured after the first second (the gate covers that second)
    assert reduction_db(echo, out, 3 * MIC_RATE_HZ // 2, echo.size - MIC_RATE_HZ // 4) > 15.0
    # A voice over the model's (the canceller removing nothing, as when it diverged) passes.
    near = np.zeros(echo.size)
    near[: near16.size] = near16[: echo.size]
    mixed = simulate_room(far24, 0.07, 0.3, near16=near)
    tap = ReferenceTap(history_s=20)
    feed_tap(tap, far24, T0)
    out = run_mode(EchoCore("aec", tap, canceller=DivergedCanceller()), mic_blocks(mixed, T0))
    span = slice(0, min(near16.size, echo.size))
    assert ncc_best(out[span], near[span]) > 0.6


def test_mode_choice():
    assert choose_mode("auto", canceller=False).mode in ("gate", "off")
    assert choose_mode("half-duplex", canceller=False) == choose_mode("half-duplex")
    with pytest.raises(UsageError, match=r"pip install"):
        choose_mode("aec", canceller=False)


runner = CliRunner()


@pytest.mark.parametrize("args,name", [(["--echo", "loud"], "echo"),
                                       (["--barge-in", "always"], "barge")])
def test_bad_echo_flags_are_one_line_and_exit_2(tmp_path, args, name):
    result = runner.invoke(app, ["talk", "--local", *args, "--transcript",
                                 str(tmp_path / "t.jsonl")])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.count("\n") == 1 and name in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "t.jsonl").exists()
