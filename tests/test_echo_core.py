"""The echo core without devices: alignment by timestamps, the 10 ms guard, each mode on a
synthetic room (speech played at 24 kHz, heard 60 ms later at gain 0.6), and double talk."""

from __future__ import annotations

import numpy as np
import pytest
from echo_signals import FAR_TEXT, NEAR_TEXT, espeak, ncc_best

from omnichat.audio.resample import resample
from omnichat.echo import FRAME_SAMPLES, MIC_RATE_HZ
from omnichat.echo.canceller import WebRtcCanceller, canceller_available, check_frame
from omnichat.echo.clock import SampleClock
from omnichat.echo.core import EchoCore
from omnichat.echo.delay import estimate_delay
from omnichat.echo.offline import feed_tap, mic_blocks, reduction_db, run_mode, simulate_room
from omnichat.echo.reference import ReferenceTap

T0 = 1000.0  # PortAudio stream time of the first played sample
DELAY_S = 0.06
needs_aec = pytest.mark.skipif(not canceller_available(),
                               reason="no canceller installed (pip install 'omnichat[aec]')")


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("echo-speech")
    return espeak(tmp, FAR_TEXT, "en-us", 24_000), espeak(tmp, NEAR_TEXT, "en-gb+f3", 16_000)


def _core(mode, far24, **kw):
    tap = ReferenceTap(history_s=20)
    feed_tap(tap, far24, T0)
    canceller = WebRtcCanceller() if mode == "aec" else None
    return EchoCore(mode, tap, canceller=canceller, **kw)


def _double_talk(far24, near16):
    """The room's mic with the near talker over the last part; returns (mic, near, start)."""
    echo_only = simulate_room(far24, DELAY_S, 0.6)
    start = echo_only.size - near16.size - MIC_RATE_HZ // 4
    near = np.zeros(echo_only.size)
    near[start:start + near16.size] = 0.8 * near16
    return simulate_room(far24, DELAY_S, 0.6, near16=near), near, start


def test_reference_is_what_left_the_dac_at_that_time(speech):
    far24, _ = speech
    tap = ReferenceTap(history_s=20)
    feed_tap(tap, far24, T0)
    whole = resample(far24, 24_000, MIC_RATE_HZ).astype(np.float64)
    offset = 2 * MIC_RATE_HZ + 37  # an arbitrary sample, not on a block boundary
    got = tap.reference(T0 + offset / MIC_RATE_HZ, 1600).astype(np.float64)
    want = whole[offset:offset + 1600]
    assert np.dot(got, want) / np.sqrt(np.dot(got, got) * np.dot(want, want)) > 0.99
    assert not tap.reference(T0 - 5.0, 160).any()  # before anything played: silence
    assert not tap.reference(T0 + 60.0, 160).any()  # not played yet: silence


def test_delay_is_measured_by_cross_correlation(speech):
    far24, _ = speech
    mic = simulate_room(far24, DELAY_S, 0.6)
    tap = ReferenceTap(history_s=20)
    feed_tap(tap, far24, T0)
    seg = mic[MIC_RATE_HZ:3 * MIC_RATE_HZ]
    ref = tap.reference(T0 + 1.0 - 0.4, seg.size + int(0.4 * MIC_RATE_HZ))
    found = estimate_delay(seg, ref, 0.4)
    assert found is not None and abs(found.delay_s - DELAY_S) < 0.002
    assert 0.4 < found.gain < 0.8
    assert estimate_delay(np.random.default_rng(0).normal(0, 500, seg.size), ref, 0.4) is None


def test_odd_block_sizes_reach_the_canceller_as_exact_10ms_frames(speech):
    far24, _ = speech
    seen = []

    class Recorder:
        name = "recorder"

        def process(self, near, far):
            seen.append((near.shape[0], far.shape[0]))
            return near

    tap = ReferenceTap(history_s=20)
    feed_tap(tap, far24, T0)
    core = EchoCore("aec", tap, canceller=Recorder())
    mic = simulate_room(far24, DELAY_S, 0.6)[:8000]
    out, i = [], 0
    for size in (150, 230, 7, 333, 160, 1):
        out.append(core.process(mic[i:i + size], T0 + i / MIC_RATE_HZ))
        i += size
    assert {s for pair in seen for s in pair} == {FRAME_SAMPLES}
    assert sum(o.size for o in out) == i // FRAME_SAMPLES * FRAME_SAMPLES


@needs_aec
def test_a_wrong_size_frame_is_refused_before_native_code():
    canceller = WebRtcCanceller()
    with pytest.raises(ValueError, match="exactly 160"):
        canceller.process(np.zeros(240, np.int16), np.zeros(160, np.int16))
    with pytest.raises(ValueError):
        check_frame(np.zeros((160, 2), np.int16), "microphone")
    assert canceller.process(np.zeros(160, np.int16), np.zeros(160, np.int16)).size == 160


@pytest.mark.parametrize("mode", ["aec", "gate"])
def test_echo_is_removed_and_double_talk_keeps_the_near_talker(speech, mode):
    if mode == "aec" and not canceller_available():
        pytest.skip("no canceller installed (pip install 'omnichat[aec]')")
    far24, near16 = speech
    mic, near, start = _double_talk(far24, near16)
    core = _core(mode, far24)
    out = run_mode(core, mic_blocks(mic, T0))
    echo_only = slice(2 * MIC_RATE_HZ, start - MIC_RATE_HZ // 4)
    assert reduction_db(mic, out, echo_only.start, echo_only.stop) > 20.0
    assert abs(core.delay_s - DELAY_S) < 0.003
    span = slice(start, start + near16.size)
    assert ncc_best(mic[span], near[span]) > 0.4  # sanity: the talker is in the input
    assert ncc_best(out[span], near[span]) > 0.4


def test_gate_passes_everything_while_the_model_is_silent(speech):
    _, near16 = speech
    core = _core("gate", np.zeros(24_000, np.int16))
    out = run_mode(core, mic_blocks(near16, T0))
    assert np.array_equal(out, near16[:out.size])


def test_half_duplex_mutes_while_the_model_speaks_and_not_after(speech):
    far24, near16 = speech
    far24 = far24[:3 * 24_000]
    far_s = far24.size / 24_000
    mic = simulate_room(far24, DELAY_S, 0.6)
    after = np.concatenate([mic, near16])
    out = run_mode(_core("half-duplex", far24), mic_blocks(after, T0))
    assert not out[MIC_RATE_HZ // 2:mic.size - MIC_RATE_HZ // 2].any()
    tail_start = int((far_s + 1.0) * MIC_RATE_HZ)
    assert np.array_equal(out[tail_start:], after[tail_start:out.size])


def test_off_changes_nothing(speech):
    far24, _ = speech
    mic = simulate_room(far24, DELAY_S, 0.6)
    out = run_mode(_core("off", far24), mic_blocks(mic, T0))
    assert np.array_equal(out, mic[:out.size])


def test_sample_clock_ignores_jitter_and_follows_jumps_and_drift():
    clock = SampleClock(16_000)
    rng = np.random.default_rng(0)
    times = [clock.stamp(10.0 + k * 0.02 + rng.uniform(0, 0.008), 320) for k in range(200)]
    steps = np.diff(times)
    assert np.count_nonzero(np.abs(steps - 0.02) > 1e-9) <= 2  # at most the settling steps
    assert abs(clock.stamp(30.0, 320) - 30.0) < 1e-9 and clock.reanchors == 1  # a jump
    drifting = [clock.stamp(30.02 + k * 0.02 * 1.001, 320) for k in range(1, 400)]
    assert abs(drifting[-1] - (30.02 + 399 * 0.02 * 1.001)) < 0.004  # follows in steps
