"""Reading any common WAV as mono int16 at a chosen rate, and writing WAVs atomically.

The reader parses the RIFF header itself so it handles what the stdlib ``wave`` module refuses
(IEEE float, WAVE_FORMAT_EXTENSIBLE, 24/32-bit) without a system library, and tolerates the
bogus data sizes written by streaming tools (``espeak-ng --stdout``, ``sox -t wav -``).
"""

from __future__ import annotations

import os
import struct
import tempfile
import wave
from pathlib import Path

import numpy as np

from omnichat.audio.resample import resample
from omnichat.errors import UsageError

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE


class WavError(ValueError):
    """Why bytes are not a readable WAV; ``read_wav_mono`` turns it into one UsageError."""


def read_wav_mono(path: Path, rate_hz: int) -> np.ndarray:
    """Return the file as int16 mono at ``rate_hz`` (channels averaged, soxr resampling)."""
    path = Path(path)
    try:
        return wav_bytes_mono(path.read_bytes(), rate_hz)
    except (OSError, WavError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read WAV '{path}': {reason}; give a PCM/float WAV file") from exc


def wav_bytes_mono(data: bytes, rate_hz: int) -> np.ndarray:
    """WAV bytes (a file's, or a streamed WAV such as espeak-ng's stdout) as int16 mono at
    ``rate_hz``; raises ``WavError``."""
    samples, file_rate = _decode(data)
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    pcm = np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
    return resample(pcm, file_rate, rate_hz)


def _decode(data: bytes) -> tuple[np.ndarray, int]:
    """Parse RIFF/WAVE bytes into float32 samples in [-1, 1) shaped (frames, channels)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    fmt, payload = _chunks(data)
    if fmt is None:
        raise WavError("no 'fmt ' chunk")
    if payload is None:
        raise WavError("no 'data' chunk")
    if len(fmt) < 16:
        raise WavError("truncated 'fmt ' chunk")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # first two bytes of the SubFormat GUID
    if channels < 1 or rate < 1 or block_align < 1:
        raise WavError(f"invalid header ({channels} channels, {rate} Hz)")
    frames = len(payload) // block_align
    raw = payload[: frames * block_align]
    return _to_float(raw, tag, bits, block_align // channels).reshape(-1, channels), rate


def _chunks(data: bytes) -> tuple[bytes | None, bytes | None]:
    fmt = payload = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8: pos + 8 + size]  # a size past the end (streamed WAV) is clamped
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            payload = body
            break
        pos += 8 + size + (size & 1)
    return fmt, payload


def _to_float(raw: bytes, tag: int, bits: int, width: int) -> np.ndarray:
    if tag == _FLOAT and width in (4, 8):
        x = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float32)
        return np.nan_to_num(np.clip(x, -1.0, 1.0))
    if tag != _PCM:
        raise WavError(f"unsupported encoding (format tag 0x{tag:04x})")
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float32) / float(1 << 23)
    if width == 4:
        return (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2.0**31).astype(np.float32)
    raise WavError(f"unsupported sample size ({bits} bits)")


class WavWriter:
    """A 16-bit WAV written to a temp file beside ``path`` and renamed into place on close.

    Readers never see a half-written file; ``abort()`` (or an exception inside ``with``)
    removes the temp file and leaves any previous ``path`` untouched.
    """

    def __init__(self, path: Path, rate_hz: int, channels: int = 1):
        self.path = Path(path)
        self.rate_hz = rate_hz
        self.channels = channels
        try:  # a bad path is the user's to fix, before any audio is produced
            if self.path.is_dir():
                raise IsADirectoryError(21, "is a directory")
            if self.path.parent.exists() and not self.path.parent.is_dir():
                raise NotADirectoryError(20, "Not a directory")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                       suffix=".part")
        except OSError as exc:
            raise UsageError(f"cannot write WAV '{self.path}': {exc.strerror or exc}; "
                             "choose another path") from exc
        # mkstemp makes the file 0600; the finished WAV gets the usual mode for new files.
        os.chmod(tmp, 0o666 & ~_UMASK)
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")
        self._wave = wave.open(self._file, "wb")
        self._wave.setnchannels(channels)
        self._wave.setsampwidth(2)
        self._wave.setframerate(rate_hz)
        self.frames_written = 0
        self._open = True

    def write(self, samples: np.ndarray | bytes) -> None:
        if isinstance(samples, (bytes, bytearray, memoryview)):
            data = bytes(samples)
        else:
            data = np.ascontiguousarray(samples, dtype="<i2").tobytes()
        self._wave.writeframes(data)
        self.frames_written += len(data) // (2 * self.channels)

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._wave.close()
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._wave.close()
            self._file.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()
