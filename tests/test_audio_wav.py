"""WAV reading of the common encodings (and clean errors for bad files); atomic WAV writing."""

from __future__ import annotations

import struct
import wave

import numpy as np
import pytest

from omnichat.audio.wav import WavWriter, read_wav_mono
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
    (riff(1, 1, 16000, 16, b"")[:44 - 8 - 12], "no 'data' chunk"),
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


def test_wav_writer_creates_missing_folders_and_gives_a_normal_file_mode(tmp_path):
    from omnichat.audio import wav

    target = tmp_path / "new" / "deeper" / "reply.wav"
    writer = WavWriter(target, 24_000)
    writer.write(b"\x00\x00" * 10)
    writer.close()
    assert read_wav_mono(target, 24_000).size == 10
    assert target.stat().st_mode & 0o777 == 0o666 & ~wav._UMASK  # not mkstemp's private 0600


def test_wav_writer_to_an_unusable_path_is_one_clear_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match=r"cannot write WAV '.*reply.wav': .*; choose another path"):
        WavWriter(blocker / "reply.wav", 24_000)
    with pytest.raises(UsageError, match="is a directory"):
        WavWriter(tmp_path, 24_000)
