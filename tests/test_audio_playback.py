"""PlaybackBuffer: order, underruns, flush with fade, the heard clock, overflow, waits."""

from __future__ import annotations

import threading

import numpy as np

from omnichat.audio.playback import PlaybackBuffer


def pcm(samples) -> bytes:
    return np.asarray(samples, dtype="<i2").tobytes()


def read_all(buf: PlaybackBuffer, total: int, block: int = 240) -> np.ndarray:
    out = np.zeros(block, dtype=np.int16)
    parts = []
    for _ in range(-(-total // block)):
        buf.read_into(out)
        parts.append(out.copy())
    return np.concatenate(parts)[:total]


def test_reads_come_out_in_write_order_across_the_ring_edge():
    buf = PlaybackBuffer(rate_hz=1000, capacity_s=1.0)  # 1000-sample ring
    ramp = np.arange(1, 2501, dtype=np.int16)
    got = []
    for i in range(0, ramp.size, 700):  # write 700, read 700: wraps the ring several times
        buf.write(pcm(ramp[i:i + 700]))
        got.append(read_all(buf, min(700, ramp.size - i), block=100))
    assert np.array_equal(np.concatenate(got), ramp)
    assert buf.played_samples == buf.written_samples == 2500
    assert buf.underruns == 0 and buf.dropped_samples == 0


def test_underrun_zero_fills_and_counts_once_per_dry_spell_while_audio_is_expected():
    buf = PlaybackBuffer()
    buf.write(pcm(np.full(100, 7)))
    out = np.full((240, 1), 99, dtype=np.int16)  # (n, 1) like a PortAudio outdata
    assert buf.read_into(out) == 100
    assert (out[:100] == 7).all() and (out[100:] == 0).all()
    assert buf.read_into(out) == 0 and buf.underruns == 1  # same dry spell: counted once
    buf.write(pcm(np.full(10, 1)))
    buf.read_into(out)
    assert buf.underruns == 2
    buf.finish()  # the response ended: silence is expected now
    buf.read_into(out)
    assert buf.underruns == 2
    fresh = PlaybackBuffer()
    fresh.read_into(out)  # idle before any audio: not an underrun
    assert fresh.underruns == 0


def test_flush_drops_queued_audio_keeps_the_heard_clock_exact_and_fades_out():
    buf = PlaybackBuffer()  # 24 kHz: a 10 ms fade is 240 samples
    start_a = buf.written_samples
    buf.write(pcm(np.full(2400, 10000)))
    read_all(buf, 480)
    assert buf.played_samples == 480
    assert buf.flush(fade_ms=10) == 1920
    assert buf.played_samples == 480 and buf.queued_samples == 0
    assert buf.written_samples == 2400 and buf.discarded_samples == 1920
    after = read_all(buf, 480)
    fade = after[:240].astype(int)
    assert fade[0] < 10000 and fade[-1] == 0 and (np.diff(fade) <= 0).all()
    assert (after[240:] == 0).all()
    assert buf.played_samples == 480  # the fade is not counted as heard audio
    assert buf.heard_samples(start_a, 2400) == 480
    start_b = buf.written_samples
    buf.write(pcm(np.full(1000, 5)))
    read_all(buf, 600, block=200)
    assert buf.heard_samples(start_b, 1000) == 600
    assert buf.heard_samples(start_a, 2400) == 480  # unchanged by later audio
    assert buf.stream_position == buf.played_samples + buf.discarded_samples == start_b + 600


def test_flush_of_an_empty_buffer_is_silent_and_drained():
    buf = PlaybackBuffer()
    assert buf.flush() == 0
    assert buf.wait_drained(0)
    out = np.ones(240, dtype=np.int16)
    assert buf.read_into(out) == 0 and not out.any()


def test_overflow_drops_the_oldest_audio_and_counts_it():
    buf = PlaybackBuffer(rate_hz=1000, capacity_s=0.5)  # 500 samples
    buf.write(pcm(np.arange(400)))
    buf.write(pcm(np.arange(400, 700)))
    assert buf.dropped_samples == 200 and buf.queued_samples == 500
    assert np.array_equal(read_all(buf, 500, block=50), np.arange(200, 700))
    buf.write(pcm(np.arange(2000)))  # larger than the whole ring: keep the newest 500
    assert buf.dropped_samples == 200 + 1500
    assert np.array_equal(read_all(buf, 500, block=50), np.arange(1500, 2000))
    assert buf.heard_samples(700, 2000) == 500


def test_odd_length_writes_are_joined_at_the_sample_boundary():
    buf = PlaybackBuffer()
    data = pcm([1000, -2000, 3000])
    buf.write(data[:3])
    buf.write(data[3:])
    assert np.array_equal(read_all(buf, 3, block=3), [1000, -2000, 3000])


def test_wait_drained_wakes_when_the_reader_empties_the_buffer():
    buf = PlaybackBuffer()
    buf.write(pcm(np.ones(2400)))
    assert not buf.wait_drained(0.01)
    result = {}
    waiter = threading.Thread(target=lambda: result.update(ok=buf.wait_drained(5.0)))
    waiter.start()
    read_all(buf, 2400)
    waiter.join(5.0)
    assert result == {"ok": True}


def test_played_listener_sees_every_block_in_order_including_silence():
    buf = PlaybackBuffer()
    seen = []
    buf.add_played_listener(lambda block: seen.append(block.copy()))
    buf.write(pcm(np.arange(1, 301)))
    read_all(buf, 480)
    assert [b.size for b in seen] == [240, 240]
    flat = np.concatenate(seen)
    assert np.array_equal(flat[:300], np.arange(1, 301)) and not flat[300:].any()


def test_the_tap_reports_stream_positions_under_the_lock_and_never_a_flushed_sample():
    from omnichat.audio.playback import PlayedBlock

    buf = PlaybackBuffer()
    seen: list[tuple[int, int, int, int, float | None]] = []

    def tap(block: PlayedBlock) -> None:
        seen.append((block.position, block.fade, block.real, block.flushes, block.dac_time))

    buf.add_tap(tap)
    buf.write(pcm(np.arange(1, 1001)))
    buf.read_into(np.zeros(240, dtype=np.int16), dac_time=12.5)
    buf.flush()  # 760 queued samples dropped; the next block starts with a 240-sample fade
    buf.write(pcm(np.arange(1, 101)))
    buf.read_into(np.zeros(480, dtype=np.int16))
    assert seen[0] == (0, 0, 240, 0, 12.5)
    assert seen[1] == (1000, 240, 100, 1, None)  # played: written clock 1000..1099 only
    assert buf.heard_samples(0, 1000) == 240 and buf.heard_samples(1000, 100) == 100


def test_silence_the_speaker_writes_on_its_own_reaches_the_taps_on_the_device_timeline():
    """After the device ran dry mid-reply the speaker refills it with silence before the
    next block. The echo reference (a tap) must see that silence, or everything after it is
    placed early on the DAC timeline and its echo passes the gate as the user's voice."""
    buf = PlaybackBuffer()
    seen = []
    buf.add_tap(lambda b: seen.append((b.samples.copy(), b.position, b.real, b.dac_time)))
    buf.write(np.full(240, 1000, np.int16).tobytes())
    buf.read_into(np.empty(120, np.int16), dac_time=1.000)
    buf.tap_silence(480, 1.025)  # 20 ms refilled after a dry spell
    buf.read_into(np.empty(120, np.int16), dac_time=1.045)
    assert [(s.size, pos, real, t) for s, pos, real, t in seen] == [
        (120, 0, 120, 1.000), (480, 120, 0, 1.025), (120, 120, 120, 1.045)]
    assert not seen[1][0].any() and seen[2][0].all()
