"""Reading any common WAV as mono int16 at a chosen rate, and writing WAVs safely.

The reader parses the RIFF header itself so it handles what the stdlib ``wave`` module refuses
(IEEE float, WAVE_FORMAT_EXTENSIBLE, 24/32-bit) without a system library, and tolerates the
bogus data sizes written by streaming tools (``espeak-ng --stdout``, ``sox -t wav -``). It
streams: the header is read and checked first (plausible rate, channels, sample size and
block alignment), then the samples are converted chunk by chunk, so memory stays in
proportion to the converted result and an hour of audio is the most it will take.

The writer lives in ``wav_writer``.
"""

from __future__ import annotations

import io
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from omnichat.audio.resample import StreamResampler
from omnichat.audio.wav_writer import WavWriter
from omnichat.errors import UsageError

__all__ = ["WavError", "WavWriter", "read_wav_mono", "read_wav_stream", "wav_bytes_mono"]

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
MIN_RATE_HZ, MAX_RATE_HZ = 8_000, 192_000
MAX_CHANNELS = 8
MAX_DURATION_S = 3600
_PCM_BITS, _FLOAT_BITS = (8, 16, 24, 32), (32, 64)
_MAX_FMT_BYTES = 1024  # a real 'fmt ' chunk is 16, 18 or 40 bytes
_CHUNK_FRAMES = 1 << 15  # converted at a time: ~1.5 MB of 8-channel float64


class WavError(ValueError):
    """Why bytes are not a readable WAV; ``read_wav_mono`` turns it into one UsageError."""


def read_wav_mono(path: Path, rate_hz: int) -> np.ndarray:
    """Return the file as int16 mono at ``rate_hz`` (channels averaged, soxr resampling)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a directory")
        with path.open("rb") as handle:
            return read_wav_stream(handle, rate_hz)
    except (OSError, WavError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read WAV '{path}': {reason}; give a PCM/float WAV file") from exc


def wav_bytes_mono(data: bytes, rate_hz: int) -> np.ndarray:
    """WAV bytes (a file's, or a streamed WAV such as espeak-ng's stdout) as int16 mono at
    ``rate_hz``; raises ``WavError``."""
    return read_wav_stream(io.BytesIO(data), rate_hz)


def read_wav_stream(handle: BinaryIO, rate_hz: int) -> np.ndarray:
    """Read a WAV from ``handle`` (a file or a pipe) as int16 mono at ``rate_hz``."""
    fmt, data_size = _header(handle)
    budget = fmt.block_align * MAX_DURATION_S * fmt.rate
    known = _bytes_left(handle)
    if known is not None and min(data_size, known) > budget:  # known length: refused unread
        raise WavError(f"longer than {MAX_DURATION_S // 60} minutes")
    resampler = StreamResampler(fmt.rate, rate_hz)
    parts = [resampler.process(fmt.to_mono(raw)) for raw in _frames(handle, fmt, data_size, budget)]
    if not parts:
        raise WavError("it holds no samples (an empty recording?)")
    parts.append(resampler.process(np.zeros(0, np.int16), last=True))
    return np.concatenate(parts)


def _frames(handle: BinaryIO, fmt: _Format, data_size: int, budget: int) -> Iterator[bytes]:
    """The sample data in chunks of whole frames, up to ``budget`` bytes (then WavError)."""
    pending, left, taken = b"", data_size, 0
    while left > 0:
        got = handle.read(min(left, _CHUNK_FRAMES * fmt.block_align))
        if not got:
            return  # a streamed size past the end of the data; a torn last frame is dropped
        left -= len(got)
        raw = pending + got
        whole = len(raw) - len(raw) % fmt.block_align
        raw, pending = raw[:whole], raw[whole:]
        taken += whole
        if taken > budget:
            raise WavError(f"longer than {MAX_DURATION_S // 60} minutes")
        if raw:
            yield raw


def _bytes_left(handle: BinaryIO) -> int | None:
    """What is left of a regular file after the header; None for a pipe (unknown)."""
    try:
        info = os.fstat(handle.fileno())
        if stat.S_ISREG(info.st_mode):
            return max(0, info.st_size - handle.tell())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
    return None


class _Format:
    """The checked 'fmt ' chunk: what one frame looks like."""

    def __init__(self, body: bytes):
        if len(body) < 16:
            raise WavError("truncated 'fmt ' chunk")
        tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
        if tag == _EXTENSIBLE and len(body) >= 26:
            tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the SubFormat GUID
        if tag not in (_PCM, _FLOAT):
            raise WavError(f"unsupported encoding (format tag 0x{tag:04x})")
        if not 1 <= channels <= MAX_CHANNELS:
            raise WavError(f"{channels} channels (1 to {MAX_CHANNELS} are supported)")
        if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
            raise WavError(f"sample rate {rate} Hz ({MIN_RATE_HZ} to {MAX_RATE_HZ} Hz are "
                           "supported)")
        if bits not in (_PCM_BITS if tag == _PCM else _FLOAT_BITS):
            raise WavError(f"unsupported sample size ({bits} bits)")
        if block_align != channels * bits // 8:
            raise WavError(f"inconsistent header (block_align {block_align} for {channels} "
                           f"channels of {bits} bits)")
        self.tag, self.channels, self.rate = tag, channels, rate
        self.block_align, self.width = block_align, bits // 8

    def to_mono(self, raw: bytes) -> np.ndarray:
        """Whole frames as int16 mono at the file's rate."""
        samples = _to_float(raw, self.tag, self.width).reshape(-1, self.channels)
        mono = samples.mean(axis=1) if self.channels > 1 else samples[:, 0]
        pcm: np.ndarray = np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
        return pcm


def _header(handle: BinaryIO) -> tuple[_Format, int]:
    """Read up to the start of the samples; returns the format and the declared data size."""
    head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    fmt: _Format | None = None
    while True:
        chunk = handle.read(8)
        if len(chunk) < 8:
            raise WavError("no 'fmt ' chunk" if fmt is None else "no 'data' chunk")
        cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"data":
            if fmt is None:
                raise WavError("no 'fmt ' chunk before the 'data' chunk")
            return fmt, size
        if cid == b"fmt ":
            if size > _MAX_FMT_BYTES:
                raise WavError(f"a 'fmt ' chunk of {size} bytes")
            fmt = _Format(handle.read(size))
            _skip(handle, size & 1)
        else:
            _skip(handle, size + (size & 1))


def _skip(handle: BinaryIO, size: int) -> None:
    """Skip a chunk we do not use, without holding it (pipes cannot seek)."""
    while size > 0:
        got = len(handle.read(min(size, 1 << 16)))
        if got == 0:
            return
        size -= got


def _to_float(raw: bytes, tag: int, width: int) -> np.ndarray:
    if tag == _FLOAT:
        x = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float32)
        return np.nan_to_num(np.clip(x, -1.0, 1.0))
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float32) / float(1 << 23)
    return (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2.0**31).astype(np.float32)
