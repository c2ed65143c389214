"""WAV-backed microphone and speaker: block framing, lead silence, file_done, the written WAV."""

from __future__ import annotations

import queue
import wave

import numpy as np
import pytest

from omnichat.audio import MIC_RATE_HZ
from omnichat.audio.microphone import WavMicrophone
from omnichat.audio.playback import PlaybackBuffer
from omnichat.audio.speaker import FileSpeaker
from omnichat.audio.wav import WavWriter
from omnichat.errors import UsageError


@pytest.fixture
def question_wav(tmp_path):
    rng = np.random.default_rng(4)
    samples = rng.integers(-8000, 8000, size=int(MIC_RATE_HZ * 0.5), dtype=np.int16)
    samples[0] = 1234  # a non-zero first sample marks where the file starts
    path = tmp_path / "q.wav"
    with WavWriter(path, MIC_RATE_HZ) as writer:
        writer.write(samples)
    return path, samples


def collect(blocks: queue.Queue) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(blocks.get_nowait())
        except queue.Empty:
            return out


def test_wav_microphone_sends_lead_silence_then_the_file_then_silence(question_wav):
    path, samples = question_wav
    blocks: queue.Queue = queue.Queue()
    mic = WavMicrophone(path, blocks.put_nowait, block_ms=20, pace=0, lead_silence_s=0.3)
    assert mic.file_duration_s == pytest.approx(0.5)
    with mic:
        assert mic.file_done.wait(5.0)
        file_blocks = collect(blocks)
        tail = blocks.get(timeout=1.0)  # silence keeps coming (paced) until close()
    assert {len(b) for b in file_blocks} == {640} and len(tail) == 640
    pcm = np.frombuffer(b"".join(file_blocks), dtype="<i2")
    assert not pcm[: 15 * 320].any()  # 0.3 s lead silence = 15 blocks of 20 ms
    assert np.array_equal(pcm[15 * 320: 15 * 320 + samples.size], samples)
    assert len(file_blocks) >= 15 + 25 and not pcm[40 * 320:].any()  # then silence only
    assert not np.frombuffer(tail, dtype="<i2").any()
    assert mic.level_dbfs == -120.0


def test_wav_microphone_runs_stages_and_a_none_drops_the_block(question_wav):
    path, _ = question_wav
    blocks: queue.Queue = queue.Queue()
    seen = []

    def every_other(block: np.ndarray):
        seen.append(block.size)
        return None if len(seen) % 2 else -block

    with WavMicrophone(path, blocks.put_nowait, pace=0, lead_silence_s=0,
                       stages=[every_other]) as mic:
        assert mic.file_done.wait(5.0)
    assert set(seen) == {320}
    sent = collect(blocks)
    assert len(sent) == mic.stats["blocks_sent"] and mic.stats["blocks_dropped_by_stages"] >= 12


def test_wav_microphone_rejects_a_bad_file_at_construction(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(UsageError, match="cannot read WAV .*not a RIFF/WAVE file"):
        WavMicrophone(bad, lambda b: None)


def test_file_speaker_unpaced_writes_exactly_what_was_played(tmp_path):
    buf = PlaybackBuffer()
    reply = np.arange(-6000, 6000, dtype=np.int16)
    out = tmp_path / "reply.wav"
    with FileSpeaker(buf, out, pace=0):
        buf.write(reply.tobytes())
        assert buf.wait_drained(5.0)
        buf.finish()
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
        got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.array_equal(got, reply)
    assert buf.played_samples == reply.size


def test_file_speaker_paced_keeps_the_timeline_and_the_flush_fade(tmp_path):
    buf = PlaybackBuffer()
    out = tmp_path / "reply.wav"
    buf.write(np.full(2400, 8000, dtype=np.int16).tobytes())  # 100 ms
    with FileSpeaker(buf, out, pace=4.0):
        assert buf.wait_drained(5.0)
        buf.write(np.full(24000, 8000, dtype=np.int16).tobytes())
        buf.flush()
        assert buf.wait_drained(5.0)  # the fade played
    with wave.open(str(out)) as w:
        got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert got.size % 240 == 0 and (got[:2400] == 8000).all()
    loud = np.flatnonzero(got)
    assert loud[-1] < 2400 + 240 * 3  # at most the fade (plus any block already read) after it
    assert not (out.parent / (out.name + ".part")).exists()


def test_resampling_feed_keeps_the_rate_and_a_flush_fades_within_a_block():
    from omnichat.audio.device_feed import DeviceFeed

    buf = PlaybackBuffer()
    feed = DeviceFeed(buf, 48000, block_ms=10)  # as when a device refuses 24 kHz
    buf.write(np.full(24000, 8000, dtype=np.int16).tobytes())
    blocks = [feed.next_block().copy() for _ in range(30)]  # 300 ms in 10 ms device blocks
    assert {b.size for b in blocks} == {480}
    assert all(np.abs(b[100:]).min() > 7000 for b in blocks[1:])  # no wait for soxr's burst
    buf.flush()
    after = [feed.next_block().copy() for _ in range(5)]
    head = np.abs(after[0].astype(int))
    assert head[0] > 6000 and (np.diff(head) <= 40).all()  # a fade, no step up
    assert not np.concatenate(after[1:]).any()  # then true silence (no dither)
    assert buf.wait_drained(0)


def test_resampling_feed_starts_a_reply_at_once_and_plays_its_tail():
    from omnichat.audio.device_feed import DeviceFeed

    buf = PlaybackBuffer()
    feed = DeviceFeed(buf, 48000, block_ms=5)
    idle = [feed.next_block().copy() for _ in range(20)]  # 100 ms of nothing playing
    assert not np.concatenate(idle).any() and feed.held_frames == 0  # no silence queued
    buf.write(np.full(2400, 8000, dtype=np.int16).tobytes())  # a 100 ms reply
    buf.finish()
    out = np.concatenate([feed.next_block().copy() for _ in range(30)])
    loud = np.flatnonzero(np.abs(out) > 4000)
    assert loud[0] < 24  # the first block already sounds (soxr's burst read ahead)
    assert 4700 < loud.size <= 4800 + 48  # all of it, the held-back tail included
    assert not feed.busy and not out[-240:].any()


def test_file_speaker_disk_full_is_one_error_and_leaves_no_file(tmp_path, monkeypatch):
    import errno

    from omnichat.audio import wav_writer
    from omnichat.errors import OmnichatError

    buf = PlaybackBuffer()
    out = tmp_path / "reply.wav"
    speaker = FileSpeaker(buf, out, pace=0)
    speaker.start()  # the header fits

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wav_writer.os, "write", full)
    buf.write(np.ones(2400, dtype=np.int16).tobytes())
    with pytest.raises(OmnichatError, match=r"cannot write WAV '.*reply.wav': No space left"):
        speaker.close()
    assert list(tmp_path.iterdir()) == []


def test_an_input_wav_without_samples_is_refused_before_the_session(tmp_path):
    empty = tmp_path / "empty.wav"
    with WavWriter(empty, MIC_RATE_HZ):
        pass
    with pytest.raises(UsageError, match="holds no samples"):
        WavMicrophone(empty, lambda b: None)
