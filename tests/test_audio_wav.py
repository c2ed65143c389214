"""WAV reading of the common encodings (and clean errors for bad files); atomic WAV writing."""

from __future__ import annotations

import os
import stat
import struct
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from omnichat.audio.wav import WavWriter, read_wav_mono, wav_bytes_mono
from omnichat.errors import UsageError


def tone(rate: int, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * 440 * t)


def riff(tag: int, channels: int, rate: int, bits: int, payload: bytes,
         extensible: bool = False, data_size: int | None = None) -> bytes:
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * align,
                      align, bits)
    if extensible:  # cbSize, valid bits, channel mask, SubFormat GUID (tag + fixed tail)
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + bytes(14)
    size = len(payload) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 3) \
        + b"abc\x00" + b"data" + struct.pack("<I", size) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def encode(x: np.ndarray, kind: str) -> bytes:
    if kind == "u8":
        return (np.round(x * 127) + 128).astype(np.uint8).tobytes()
    if kind == "s16":
        return (x * 32767).astype("<i2").tobytes()
    if kind == "s24":
        v = (x * (2**23 - 1)).astype("<i4")
        return b"".join(int(s).to_bytes(3, "little", signed=True) for s in v)
    if kind == "s32":
        return (x * (2**31 - 1)).astype("<i4").tobytes()
    if kind == "f32":
        return x.astype("<f4").tobytes()
    return x.astype("<f8").tobytes()


def ncc(a, b) -> float:
    n = min(a.size, b.size)
    a, b = a[:n].astype(float), b[:n].astype(float)
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


@pytest.mark.parametrize(("kind", "tag", "bits", "rate", "channels", "ext"), [
    ("u8", 1, 8, 8000, 1, False),
    ("s16", 1, 16, 44100, 2, False),
    ("s16", 1, 16, 16000, 1, False),
    ("s24", 1, 24, 48000, 1, True),
    ("s32", 1, 32, 22050, 1, False),
    ("f32", 3, 32, 24000, 2, False),
    ("f32", 3, 32, 48000, 1, True),
    ("f64", 3, 64, 16000, 1, False),
])
def test_reads_common_encodings_as_16k_mono(tmp_path, kind, tag, bits, rate, channels, ext):
    x = tone(rate)
    frames = np.repeat(x, channels)  # interleaved, identical channels
    path = tmp_path / "in.wav"
    path.write_bytes(riff(tag, channels, rate, bits, encode(frames, kind), extensible=ext))
    y = read_wav_mono(path, 16000)
    assert y.dtype == np.int16 and abs(y.size - 8000) <= 1
    assert ncc(y, (tone(16000) * 32767).astype(np.int16)) > 0.99


def test_16k_pcm16_round_trips_exactly_and_streamed_sizes_are_tolerated(tmp_path):
    x = (tone(16000) * 32767).astype("<i2")
    path = tmp_path / "streamed.wav"  # espeak-ng --stdout writes 0xFFFFFFFF as the data size
    path.write_bytes(riff(1, 1, 16000, 16, x.tobytes(), data_size=0xFFFFFFFF))
    assert np.array_equal(read_wav_mono(path, 16000), x)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "not a RIFF/WAVE file"),
    (b"hello, I am a text file", "not a RIFF/WAVE file"),
    (b"RIFF\x10\x00\x00\x00WAVEjunk\x00\x00\x00\x00", "no 'fmt ' chunk"),
    (riff(1, 1, 16000, 16, b"")[:44 - 8 - 12], "truncated 'fmt ' chunk"),
    (riff(1, 1, 16000, 16, b"")[:36], "no 'data' chunk"),
    (riff(2, 1, 16000, 16, b"\x00" * 100), "unsupported encoding"),
])
def test_bad_files_give_one_usage_line(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(UsageError) as info:
        read_wav_mono(path, 16000)
    message = str(info.value)
    assert message.startswith(f"cannot read WAV '{path}': {reason}")
    assert message.endswith("; give a PCM/float WAV file") and "\n" not in message


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="No such file"):
        read_wav_mono(tmp_path / "nope.wav", 16000)


def test_wav_writer_is_atomic(tmp_path):
    path = tmp_path / "out.wav"
    writer = WavWriter(path, 24000)
    writer.write(np.arange(100, dtype=np.int16))
    writer.write(np.arange(100, dtype="<i2").tobytes())
    assert not path.exists()  # nothing visible until close
    writer.close()
    writer.close()
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == \
            (24000, 1, 2, 200)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_wav_writer_abort_and_exceptions_leave_no_file(tmp_path):
    path = tmp_path / "out.wav"
    WavWriter(path, 24000).abort()
    with pytest.raises(RuntimeError), WavWriter(path, 24000) as writer:
        writer.write(np.zeros(10, np.int16))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_wav_writer_creates_missing_folders_and_keeps_the_audio_private(tmp_path):
    target = tmp_path / "new" / "deeper" / "reply.wav"
    writer = WavWriter(target, 24_000)
    writer.write(b"\x00\x00" * 10)
    writer.close()
    assert read_wav_mono(target, 24_000).size == 10
    assert target.stat().st_mode & 0o777 == 0o600  # what the user said, like the config
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new" / "deeper").stat().st_mode & 0o777 == 0o700


def test_wav_writer_to_an_unusable_path_is_one_clear_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError,
                       match=r"cannot write WAV '.*reply.wav': .*; choose another path"):
        WavWriter(blocker / "reply.wav", 24_000)
    with pytest.raises(UsageError, match="is a directory"):
        WavWriter(tmp_path, 24_000)


# ---- implausible files are refused in one line, without reading them whole ------------------


def _refused(path: Path) -> str:
    with pytest.raises(UsageError) as info:
        read_wav_mono(path, 16000)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"cannot read WAV '{path}': ")
    return message


@pytest.mark.parametrize(("header", "reason"), [
    (dict(channels=1, rate=1, bits=16), "sample rate 1 Hz"),
    (dict(channels=1, rate=400_000, bits=16), "sample rate 400000 Hz"),
    (dict(channels=3, rate=16000, bits=16, align=4), "inconsistent header (block_align 4"),
    (dict(channels=40, rate=16000, bits=16), "40 channels"),
    (dict(channels=1, rate=16000, bits=12), "unsupported sample size (12 bits)"),
])
def test_implausible_headers_are_one_line(tmp_path, header, reason):
    channels, rate, bits = header["channels"], header["rate"], header["bits"]
    align = header.get("align", channels * bits // 8)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, bits)
    payload = bytes(20_000)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 20_000) + payload
    path = tmp_path / "odd.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert reason in _refused(path)


def test_a_wav_without_samples_says_so(tmp_path):
    path = tmp_path / "empty.wav"
    with WavWriter(path, 16000):
        pass
    assert "holds no samples" in _refused(path)


def test_an_endless_source_is_refused_without_loading_it():
    assert "not a RIFF/WAVE file" in _refused(Path("/dev/zero"))


def test_a_file_longer_than_an_hour_is_refused_before_reading_it(tmp_path):
    path = tmp_path / "long.wav"
    frames = 8000 * 7200
    with path.open("wb") as f:  # two hours at 8 kHz, sparse: no disk, and never read
        f.write(riff(1, 1, 8000, 16, b"", data_size=frames * 2))
        f.truncate(f.tell() + frames * 2)
    assert "longer than 60 minutes" in _refused(path)


def test_a_stream_of_unknown_length_is_read_in_chunks_and_capped(tmp_path, monkeypatch):
    from omnichat.audio import wav

    monkeypatch.setattr(wav, "MAX_DURATION_S", 60)
    monkeypatch.setattr(wav, "_bytes_left", lambda handle: None)  # as for a pipe
    reads = []
    path = tmp_path / "streamed.wav"
    path.write_bytes(riff(1, 1, 8000, 16, bytes(8000 * 2 * 90), data_size=0xFFFFFFFF))
    with path.open("rb") as handle:
        real_read = handle.read

        def read(n=-1):
            reads.append(n)
            return real_read(n)

        handle.read = read  # type: ignore[method-assign]
        with pytest.raises(wav.WavError, match="longer than 1 minutes"):
            wav.read_wav_stream(handle, 16000)
    assert -1 not in reads and max(reads) <= 1 << 16  # never the whole file at once


def test_a_wav_from_a_pipe_is_read(tmp_path):
    x = (tone(16000) * 32767).astype("<i2")
    fifo = tmp_path / "in.wav"
    os.mkfifo(fifo)
    data = riff(1, 1, 16000, 16, x.tobytes(), data_size=0xFFFFFFFF)
    writer = threading.Thread(target=lambda: fifo.write_bytes(data))
    writer.start()
    try:
        assert np.array_equal(read_wav_mono(fifo, 16000), x)
    finally:
        writer.join(5)


# ---- the writer never replaces what is not a regular file ----------------------------------


def test_output_to_a_fifo_is_streamed_in_place_and_never_renamed_over(tmp_path):
    fifo = tmp_path / "reply.wav"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there: no wait
    try:
        writer = WavWriter(fifo, 24000)
        writer.write(np.arange(100, dtype=np.int16))  # 244 bytes: fits the pipe buffer
        writer.close()
        got = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still a FIFO
    assert list(tmp_path.iterdir()) == [fifo]  # no temp file
    assert np.array_equal(wav_bytes_mono(got, 24000), np.arange(100, dtype=np.int16))


def test_output_to_a_fifo_nobody_reads_is_one_line_not_a_hang(tmp_path):
    fifo = tmp_path / "reply.wav"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="FIFO nobody is reading; choose another path"):
        WavWriter(fifo, 24000)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_output_to_a_device_node_writes_to_it_and_keeps_the_node(tmp_path):
    full = tmp_path / "full"  # a private /dev/full (1, 7); the real one is never touched
    os.mknod(full, 0o600 | stat.S_IFCHR, os.makedev(1, 7))
    with pytest.raises(UsageError, match=r"cannot write WAV '.*full': No space left"):
        WavWriter(full, 24000)  # the header fails: before any conversation starts
    assert stat.S_ISCHR(os.lstat(full).st_mode)
    assert list(tmp_path.iterdir()) == [full]
    null = tmp_path / "null"
    os.mknod(null, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    with WavWriter(null, 24000) as writer:
        writer.write(np.zeros(10, np.int16))
    assert stat.S_ISCHR(os.lstat(null).st_mode)


def test_the_temp_file_is_a_valid_wav_after_every_write(tmp_path):
    """What ``kill -9`` leaves behind is still playable."""
    path = tmp_path / "out.wav"
    writer = WavWriter(path, 24000)
    writer.write(np.arange(50, dtype=np.int16))
    (part,) = tmp_path.glob(".out.wav.*.part")
    with wave.open(str(part)) as w:
        assert w.getnframes() == 50
    writer.close()
